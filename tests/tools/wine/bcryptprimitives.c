/* Test support for running Windows builds under Wine 8 (Debian 12's), which lacks
 * bcryptprimitives.dll: Rust's std (1.78 and later) imports ProcessPrng from it for its hash
 * seeds. This stand-in fills the buffer from advapi32's RtlGenRandom (SystemFunction036), as
 * Wine 9's own bcryptprimitives does. Built by tests/tests/windows_host.rs with
 * x86_64-w64-mingw32-gcc and placed beside the executable; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

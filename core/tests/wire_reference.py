# Independent reference for the tickspan v1 wire bytes (CRC-32C, COBS, LEB128): prints the
# expected frames of core/tests/wire_bytes.rs. `python3 core/tests/wire_reference.py`
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
def cobs(data):
    out = bytearray(); idx = 0
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block)+1); out += block; block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255); out += block; block = bytearray()
    out.append(len(block)+1); out += block
    return bytes(out)
def v(n):
    o = bytearray()
    while n >= 0x80:
        o.append((n & 0x7f) | 0x80); n >>= 7
    o.append(n); return bytes(o)
def s(x): return v(len(x)) + x.encode()
def frame(raw):
    raw = bytes(raw) + crc32c(raw).to_bytes(4,'little')
    return cobs(raw) + b'\0'
def slot(i): return ((i >> 4) + (i >> 7)) & 7  # first binding of a set: slot `set`
def show(name, b): print(name, "&[" + ", ".join("0x%02x" % x for x in b) + "]")
assert crc32c(b"123456789") == 0xE3069283
show("header", b"\0" + frame(b'\x01TSPN' + (1).to_bytes(2,'little') + v(1_000_000) + v(1<<24) + v(7) + s("thumbv7m-none-eabi")))
show("context", frame(b'\x03' + v(2) + s("worker")))
show("sync", frame(b'\x04' + v(123456789) + v(0)))
sa, sb = slot(0x40), slot(0x80)
print("slots", sa, sb)
zz = lambda x: (x << 1) ^ (x >> 63) & 0xffffffffffffffff
body = b'\x05' + v(1) + v(1000)
body += bytes([0xE | sa << 4]) + v(0x40 >> 4) + bytes([1 | sa << 4]) + v(0)
body += bytes([2 | sa << 4]) + v(90)
body += bytes([0xE | sb << 4]) + v(0x80 >> 4) + bytes([12 | sb << 4]) + v(10) + v(3)   # -2 zigzag = 3
body += bytes([9]) + v(3)
show("batch", frame(body))

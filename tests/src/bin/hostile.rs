//! Records spans whose names are HTML and script, drained to the file named by the first
//! argument: the dashboard must show them as text (tests/tests/serve_browser.rs).
fn main() {
    let out = std::env::args().nth(1).expect("usage: hostile OUT");
    let drain = tickspan::transport::to_file(&out).expect("open trace output");
    for _ in 0..3 {
        let _g = tickspan::span!("<img src=x onerror=\"window.__xss=1\">");
        let _h = tickspan::span!("</td><script>window.__xss=2</script>");
    }
    drain.finish().expect("drain");
}

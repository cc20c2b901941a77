//! With feature `disabled` the manual span forms compile to nothing and evaluate nothing:
//! `cargo test -p tickspan --features std,disabled --test manual_disabled`.
#![cfg(all(feature = "std", feature = "disabled"))]

#[test]
fn manual_span_forms_compile_to_nothing() {
    let mut evaluated = false;
    let mut touch = || {
        evaluated = true;
        1u32
    };
    let s = tickspan::span_start!("job", n = touch());
    let c = tickspan::span_start!("step", parent = &s, m = touch());
    tickspan::annotate!(&s, done = touch());
    tickspan::set_error!(span = &c, "lost");
    tickspan::set_error!(span = &c);
    tickspan::set_ok!(span = &s);
    c.end();
    s.end();
    assert!(!evaluated);
}

//! `#[tickspan::instrument]`: records a span around a function's body, named after the
//! function. Re-exported by `tickspan` with its feature `macros`; use it from there.
//!
//! A plain `fn` gets a scoped span (`span!`), entered on the call and exited on every return
//! path, unwinding included. An `async fn` gets a manual span (`span_start!`) from the first
//! poll to completion, ended too when the future is dropped unfinished: a scoped span cannot
//! stay open across an `.await`, where other code runs on the thread.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Ident, ItemFn, LitStr, Token};

/// `#[instrument]`, `#[instrument(name = "parse")]`, `#[instrument(level = Debug)]`.
///
/// ```ignore
/// #[tickspan::instrument]
/// fn parse(input: &[u8]) -> usize { input.len() }     // span "parse"
///
/// #[tickspan::instrument(name = "fetch", level = Debug)]
/// async fn get(url: &str) -> u32 { 200 }              // span "fetch", from first poll to the end
/// ```
#[proc_macro_attribute]
pub fn instrument(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as Args);
    let mut f = parse_macro_input!(item as ItemFn);
    let name = args.name.unwrap_or_else(|| LitStr::new(&f.sig.ident.to_string(), f.sig.ident.span()));
    let level = args.level.unwrap_or_else(|| Ident::new("Info", proc_macro2::Span::call_site()));
    // The body's statements, spliced after the span's (a nested block would trip `unused_braces`).
    let body = &f.block.stmts;
    let block: syn::Block = if f.sig.asyncness.is_some() {
        syn::parse_quote! {{
            let __tickspan_span = ::tickspan::span_start!(#level, #name);
            let __tickspan_end = ::tickspan::__OnDrop::new(move || __tickspan_span.end());
            #(#body)*
        }}
    } else {
        syn::parse_quote! {{
            let __tickspan_guard = ::tickspan::span!(#level, #name);
            #(#body)*
        }}
    };
    *f.block = block;
    quote!(#f).into()
}

/// The attribute's arguments: `name = "…"` and `level = Trace|Debug|Info|Warn|Error`.
struct Args {
    name: Option<LitStr>,
    level: Option<Ident>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Args> {
        let mut args = Args { name: None, level: None };
        for arg in Punctuated::<Arg, Token![,]>::parse_terminated(input)? {
            match arg {
                Arg::Name(n) if args.name.is_none() => args.name = Some(n),
                Arg::Level(l) if args.level.is_none() => args.level = Some(l),
                Arg::Name(n) => return Err(syn::Error::new(n.span(), "`name` given twice")),
                Arg::Level(l) => return Err(syn::Error::new(l.span(), "`level` given twice")),
            }
        }
        Ok(args)
    }
}

enum Arg {
    Name(LitStr),
    Level(Ident),
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Arg> {
        let key: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        match key.to_string().as_str() {
            "name" => Ok(Arg::Name(input.parse()?)),
            "level" => {
                let level: Ident = input.parse()?;
                const LEVELS: [&str; 5] = ["Trace", "Debug", "Info", "Warn", "Error"];
                if LEVELS.contains(&level.to_string().as_str()) {
                    Ok(Arg::Level(level))
                } else {
                    Err(syn::Error::new(level.span(), "level is one of Trace, Debug, Info, Warn, Error"))
                }
            }
            _ => Err(syn::Error::new(key.span(), "expected `name = \"…\"` or `level = Info`")),
        }
    }
}

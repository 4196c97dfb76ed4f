//! What every shadow shares: replacing a function Wasmtime defines (and
//! only one it defines), and the shape of a shadow's answer.
//!
//! A *shadow* is weld's own implementation of a WASI function, registered
//! over Wasmtime's under the same name, that decides first and then either
//! answers itself or delegates to Wasmtime's implementation.

use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentNamedList, Lift, Linker, LinkerInstance, Lower};
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;

/// What an async shadow returns to Wasmtime: the WIT `result<R, E>` in a
/// one-element tuple, or a trap.
pub(crate) type Reply<'a, R, E = ErrorCode> =
    Box<dyn Future<Output = wasmtime::Result<(Result<R, E>,)>> + Send + 'a>;

/// Fails unless Wasmtime already defines every one of `names` in
/// `instance`. A shadow under a misspelt name, or under an interface version
/// this Wasmtime no longer provides, would be a new definition nobody calls
/// (and the original would stay in force): weld refuses to start instead.
pub(crate) fn ensure_defined<T: 'static>(
    linker: &mut Linker<T>,
    instance: &str,
    names: &[&str],
) -> wasmtime::Result<()> {
    linker.allow_shadowing(false);
    for name in names {
        let defined_again = linker
            .instance(instance)?
            .func_new(name, |_, _, _, _| Ok(()));
        if defined_again.is_ok() {
            wasmtime::bail!(
                "weld replaces `{instance}#{name}`, which this Wasmtime does not define; \
                 this weld was built against an incompatible Wasmtime"
            );
        }
    }
    Ok(())
}

/// Replaces `instance#name`, which Wasmtime must already define (see
/// [`ensure_defined`]), with `register`'s definition.
pub(crate) fn replace<T: 'static>(
    linker: &mut Linker<T>,
    instance: &str,
    name: &str,
    register: impl FnOnce(&mut LinkerInstance<'_, T>, &str) -> wasmtime::Result<()>,
) -> wasmtime::Result<()> {
    ensure_defined(linker, instance, &[name])?;
    linker.allow_shadowing(true);
    let registered = linker
        .instance(instance)
        .and_then(|mut functions| register(&mut functions, name));
    linker.allow_shadowing(false);
    registered
}

/// Replaces `instance#name` with the async `shadow`.
pub(crate) fn replace_async<T, Params, Return, F>(
    linker: &mut Linker<T>,
    instance: &str,
    name: &str,
    shadow: F,
) -> wasmtime::Result<()>
where
    T: 'static,
    Params: ComponentNamedList + Lift + 'static,
    Return: ComponentNamedList + Lower + 'static,
    F: for<'a> Fn(
            StoreContextMut<'a, T>,
            Params,
        ) -> Box<dyn Future<Output = wasmtime::Result<Return>> + Send + 'a>
        + Send
        + Sync
        + 'static,
{
    replace(linker, instance, name, |functions, name| {
        functions.func_wrap_async(name, shadow)
    })
}

/// A Wasmtime filesystem result as the WIT `result<T, error-code>`; a
/// non-`error-code` failure stays a trap, as in Wasmtime's own bindings.
pub(crate) fn lower<T>(result: FsResult<T>) -> wasmtime::Result<Result<T, ErrorCode>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => Ok(Err(error.downcast()?)),
    }
}

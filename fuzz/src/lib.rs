//! Shared by the fuzz targets: the panic hook.
//!
//! libfuzzer-sys aborts on every panic, before unwinding. eosflow deliberately catches panics
//! raised inside apache-avro's parser (`schema::parse_strict`, the registry's schema parsing) and
//! turns them into errors, so those must unwind to eosflow's `catch_unwind` as they do in
//! production and in `tests/fuzz_corpus.rs`. Every other panic still aborts at once (a crash with
//! its stack); an apache-avro panic that eosflow does not catch reaches libfuzzer-sys's own
//! `catch_unwind` and aborts there.

use std::collections::HashSet;
use std::panic::{self, PanicHookInfo};
use std::sync::{Mutex, Once};

/// Installs the hook (once per process). Call it first in every target.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // libfuzzer-sys's hook: print, then abort.
        let abort = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if in_apache_avro(info) {
                report_once(info);
            } else {
                abort(info);
            }
        }));
    });
}

fn in_apache_avro(info: &PanicHookInfo<'_>) -> bool {
    info.location()
        .is_some_and(|at| at.file().contains("apache-avro") || at.file().contains("apache_avro"))
}

/// Each apache-avro panic location is printed once, so they can be reported upstream.
fn report_once(info: &PanicHookInfo<'_>) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let Some(at) = info.location() else { return };
    let key = format!("{}:{}", at.file(), at.line());
    let Ok(mut seen) = SEEN.lock() else { return };
    if seen.get_or_insert_with(HashSet::new).insert(key.clone()) {
        eprintln!(
            "apache-avro panicked at {key} (caught by eosflow if it is in a guarded call): {info}"
        );
    }
}

//! The page's events fed to the core: `online` reconnects at once; `offline` and
//! the page becoming visible check that the connection is still alive.

use alloc::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::pump::feed;
use super::Shared;

pub(super) fn watch_page(shared: &Shared) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let add = |target: web_sys::EventTarget, kind: &'static str, online: bool| {
        let weak = Rc::downgrade(shared);
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let Some(shared) = weak.upgrade() else { return };
            let hidden = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.hidden());
            feed(&shared, |core, now| {
                if online {
                    core.on_online(now);
                } else if !hidden {
                    core.check_liveness(now);
                }
            });
        });
        if target
            .add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref())
            .is_ok()
        {
            shared
                .borrow_mut()
                .page_listeners
                .push((target, kind, closure));
        }
    };
    add(window.clone().into(), "online", true);
    add(window.clone().into(), "offline", false);
    if let Some(document) = window.document() {
        add(document.into(), "visibilitychange", false);
    }
}

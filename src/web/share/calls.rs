//! This tab's own calls (`join`, `leave`, `publish`, `request`) in a share group:
//! each has an id unique in the tab, a promise, and a deadline the tab keeps
//! itself; the leader answers it (its own tab's directly, the others' over the
//! channel). A follower's calls are [`Relayed`]: at a handover publishes, joins and
//! leaves are posted again to the new leader, requests reject `disconnected`.
//!
//! [`Relayed`]: wsguard_protocol::share::Relayed

use crate::prelude::*;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{ClientState, Millis};
use wsguard_protocol::share::{Fate, RelayedCall, TabId};

use super::super::convert::error;
use super::super::host;
use super::super::payload::{get, set};
use super::super::{now, Shared};
use super::{bridge, leader, Role, Share};

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in super::super) enum Op {
    Join,
    Leave,
    Publish,
    Request,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Join => "join",
            Op::Leave => "leave",
            Op::Publish => "publish",
            Op::Request => "request",
        }
    }
}

/// A call of this tab waiting for its answer.
pub(super) struct TabCall {
    pub(super) id: u64,
    /// The `call` message (posted to a leader, or carried out here when leading).
    pub(super) message: JsValue,
    /// A join's room: joined in this tab when the answer comes.
    join: Option<String>,
    pub(super) deadline: Millis,
    /// Its promise (kept in JS: `Host::settle`).
    promise: u32,
}

/// The outcome of a call: the value, or an error's code and message.
pub(super) type Answer = Result<JsValue, (String, String)>;

/// Starts a call of this tab; `target` is the room, or the type of a request.
pub(in super::super) fn call(
    shared: &Shared,
    op: Op,
    target: &str,
    data: &JsValue,
    key: Option<String>,
    timeout_ms: Option<u64>,
) -> Promise {
    let mut inner = shared.borrow_mut();
    let (n, promise) = inner.promise();
    let timeout = timeout_ms.unwrap_or(inner.request_timeout_ms);
    let Some(share) = inner.share.as_mut() else {
        return promise;
    };
    let id = share.next_call;
    share.next_call += 1;
    share.stats.sent += 1;
    let message = share.message("call", None);
    set(&message, "id", &JsValue::from_f64(id as f64));
    set(&message, "op", &op.name().into());
    let relayed = if op == Op::Request {
        set(&message, "type", &target.into());
        RelayedCall::Request
    } else {
        set(&message, "room", &target.into());
        let room = target.to_owned();
        match op {
            Op::Join => RelayedCall::Join { room },
            Op::Leave => RelayedCall::Leave { room },
            _ => {
                // The key is chosen here, so every leader that sends it sends the same.
                let key = key.unwrap_or_else(bridge::random_id);
                set(&message, "key", &key.as_str().into());
                RelayedCall::Publish { room, key }
            }
        }
    };
    if !data.is_undefined() {
        set(&message, "data", data);
    }
    set(&message, "timeoutMs", &JsValue::from_f64(timeout as f64));
    if op == Op::Leave {
        // No more messages of the room for this tab from now on.
        share.rooms.left(target);
    }
    let message: JsValue = message.into();
    share.calls.push(TabCall {
        id,
        message: message.clone(),
        join: (op == Op::Join).then(|| target.to_owned()),
        deadline: now().saturating_add(timeout),
        promise: n,
    });
    if share.role == Role::Leader {
        let me = share.me.clone();
        drop(inner);
        leader::on_call(shared, me, message);
        return promise;
    }
    share.relayed.sent(id, relayed);
    if let Some(leader) = share.leader_id().cloned() {
        if !post_to(share, &leader, &message) {
            drop(inner);
            settle(
                shared,
                id,
                Err((
                    "bad_frame".into(),
                    "the data cannot be cloned to the leader tab".into(),
                )),
            );
        }
    }
    promise
}

/// Posts a call (or send) message addressed to `leader`.
fn post_to(share: &Share, leader: &TabId, message: &JsValue) -> bool {
    set(message.unchecked_ref(), "to", &leader.0.as_str().into());
    share.post(message)
}

/// `send` of a shared client: `"sent"` while the connection is open, else `"queued"`
/// (the leader sends or queues it as its own). A follower's send is lost if the
/// leader ends before writing it, as a send written to a socket that drops is.
pub(in super::super) fn send(
    shared: &Shared,
    kind: &str,
    data: JsValue,
) -> Result<String, JsValue> {
    let mut inner = shared.borrow_mut();
    let open = inner.shown == ClientState::Open;
    let limit = inner.queue_limit;
    let Some(share) = inner.share.as_mut() else {
        return Err(error("closed", "the client is closed"));
    };
    if share.role == Role::Leader {
        drop(inner);
        return leader::send_own(shared, kind, data);
    }
    let message = share.message("send", None);
    set(&message, "type", &kind.into());
    if !data.is_undefined() {
        set(&message, "data", &data);
    }
    let message: JsValue = message.into();
    match share.leader_id().cloned() {
        Some(leader) => {
            if !post_to(share, &leader, &message) {
                return Err(error(
                    "bad_frame",
                    "the data cannot be cloned to the leader tab",
                ));
            }
        }
        None if share.early_sends.len() >= limit => {
            return Err(error("queue_full", "the frame was not accepted"));
        }
        None => share.early_sends.push(message),
    }
    share.stats.sent += 1;
    Ok(if open { "sent" } else { "queued" }.into())
}

/// Answers call `id` of this tab (once: a later answer finds nothing).
pub(super) fn settle(shared: &Shared, id: u64, answer: Answer) {
    let mut inner = shared.borrow_mut();
    let call = {
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        let Some(index) = share.calls.iter().position(|c| c.id == id) else {
            return;
        };
        let call = share.calls.remove(index);
        share.relayed.forget(id);
        if let (Some(room), Ok(ack)) = (&call.join, &answer) {
            let seq = get(ack, "seq").as_f64().unwrap_or(0.0) as u64;
            share.rooms.joined(room, seq);
        }
        call
    };
    match answer {
        Ok(value) => inner.host.settle(call.promise, true, &value),
        Err((code, message)) => inner
            .host
            .settle(call.promise, false, &error(&code, &message)),
    }
}

/// Rejects the calls past their deadline with `timeout` (a late answer is ignored).
pub(super) fn expire(shared: &Shared, now: Millis) {
    let due: Vec<u64> = {
        let inner = shared.borrow();
        let Some(share) = inner.share.as_ref() else {
            return;
        };
        share
            .calls
            .iter()
            .filter(|c| c.deadline <= now)
            .map(|c| c.id)
            .collect()
    };
    for id in due {
        settle(
            shared,
            id,
            Err(("timeout".into(), "no answer within the timeout".into())),
        );
    }
}

/// A new leader: the relayed calls it must not get reject `disconnected` (requests
/// in flight), the others go to it — posted to a follower's new leader, carried out
/// here when this tab now leads.
pub(super) fn to_new_leader(shared: &Shared, leader: &TabId) {
    let (rejected, messages, sends, leading) = {
        let mut inner = shared.borrow_mut();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        let fates = share.relayed.on_new_leader(leader.clone());
        let rejected: Vec<u64> = fates
            .iter()
            .filter(|(_, _, fate)| *fate == Fate::Reject)
            .map(|(id, _, _)| *id)
            .collect();
        let leading = *leader == share.me;
        let messages: Vec<(u64, JsValue)> = share
            .calls
            .iter()
            .filter(|c| !rejected.contains(&c.id))
            .map(|c| (c.id, c.message.clone()))
            .collect();
        if leading {
            for (id, _) in &messages {
                share.relayed.forget(*id);
            }
        }
        let sends = core::mem::take(&mut share.early_sends);
        (rejected, messages, sends, leading)
    };
    for id in rejected {
        settle(
            shared,
            id,
            Err(("disconnected".into(), "the leader tab went away".into())),
        );
    }
    if leading {
        for (_, message) in messages {
            let me = leader.clone();
            leader::on_call(shared, me, message);
        }
        for message in sends {
            leader::on_send(shared, &message);
        }
        return;
    }
    let inner = shared.borrow();
    let Some(share) = inner.share.as_ref() else {
        return;
    };
    for message in messages.iter().map(|(_, m)| m).chain(&sends) {
        post_to(share, leader, message);
    }
}

/// Rejects calls with `code`.
pub(super) fn reject_all(shared: &Shared, calls: Vec<TabCall>, code: &str, message: &str) {
    let inner = shared.borrow();
    for call in calls {
        inner
            .host
            .settle(call.promise, false, &error(code, message));
    }
}

/// `{ room, seq }`: a join's answer.
pub(super) fn join_ack(room: &str, seq: u64) -> JsValue {
    host::ack(room, Some(seq as f64))
}

/// `{ room }`: a leave's answer.
pub(super) fn leave_ack(room: &str) -> JsValue {
    host::ack(room, None)
}

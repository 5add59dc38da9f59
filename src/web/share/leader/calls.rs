//! The tabs' calls (this one's own too) carried out on the connection, and their
//! answers: at once when the rooms say so, else when the connection's request ends.

use crate::prelude::*;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{PublishOptions, RequestError, RequestId, SendOutcome};
use wsguard_protocol::share::{JoinPlan, LeavePlan, TabId};

use super::super::super::convert::{error, object};
use super::super::super::payload::{get, set, whole_number, JsPayload};
use super::super::super::{now, Shared};
use super::super::calls::{join_ack, leave_ack, settle, Answer};

/// `call` of `tab` (this one's own too): carried out on the connection, or answered
/// at once when the rooms say so.
pub(in crate::web) fn on_call(shared: &Shared, tab: TabId, message: JsValue) {
    let Some(id) = get(&message, "id").as_f64().map(|n| n as u64) else {
        return;
    };
    let answer: Option<Answer> = {
        let mut inner = shared.borrow_mut();
        let inner = &mut *inner;
        let Some(leader) = inner.share.as_mut().and_then(|s| s.leader.as_mut()) else {
            return;
        };
        if leader.gathering() {
            leader.deferred.push((tab, message));
            return;
        }
        if leader.calls.in_flight(&tab, id) {
            return;
        }
        let room = get(&message, "room").as_string().unwrap_or_default();
        let data = get(&message, "data");
        let data = (!data.is_undefined()).then(|| JsPayload::new(data));
        let timeout = whole_number(&get(&message, "timeoutMs"));
        let core = &mut inner.core;
        let now = now();
        match get(&message, "op").as_string().as_deref() {
            Some("join") => match leader.shares.join(&tab, &room) {
                JoinPlan::Joined { seq } => Some(Ok(join_ack(&room, seq))),
                plan => {
                    leader.calls.waits_for_join(tab.clone(), id, &room);
                    if plan == JoinPlan::JoinOnServer {
                        let request = core.join(&room, now);
                        leader.server_joins.push((request, room));
                    }
                    None
                }
            },
            Some("leave") => match leader.shares.leave(&tab, &room) {
                LeavePlan::LeaveOnServer => {
                    leader
                        .calls
                        .started(tab.clone(), id, core.leave(&room, now));
                    None
                }
                LeavePlan::NotJoined | LeavePlan::StillShared => Some(Ok(leave_ack(&room))),
            },
            Some("publish") => {
                let options = PublishOptions {
                    key: get(&message, "key").as_string(),
                    timeout_ms: timeout,
                };
                let request = core.publish(&room, data, options, now);
                leader.calls.started(tab.clone(), id, request);
                None
            }
            Some("request") => {
                let kind = get(&message, "type").as_string().unwrap_or_default();
                leader
                    .calls
                    .started(tab.clone(), id, core.request(&kind, data, timeout, now));
                None
            }
            _ => Some(Err(("bad_frame".into(), "unknown call".into()))),
        }
    };
    if let Some(answer) = answer {
        answer_tab(shared, &tab, id, answer);
    }
}

/// `send` of a follower: sent (or queued) as this tab's own.
pub(in crate::web) fn on_send(shared: &Shared, message: &JsValue) {
    let kind = get(message, "type").as_string().unwrap_or_default();
    let data = get(message, "data");
    let data = (!data.is_undefined()).then(|| JsPayload::new(data));
    let _ = shared.borrow_mut().core.send(&kind, data, now());
}

/// `send` of this (leader) tab.
pub(in crate::web) fn send_own(
    shared: &Shared,
    kind: &str,
    data: JsValue,
) -> Result<String, JsValue> {
    let data = (!data.is_undefined()).then(|| JsPayload::new(data));
    let mut inner = shared.borrow_mut();
    let outcome = inner.core.send(kind, data, now());
    if let (Ok(_), Some(share)) = (&outcome, inner.share.as_mut()) {
        share.stats.sent += 1;
    }
    match outcome {
        Ok(SendOutcome::Sent) => Ok("sent".into()),
        Ok(SendOutcome::Queued) => Ok("queued".into()),
        Err(e) => Err(error(e.code(), "the frame was not accepted")),
    }
}

/// Answers call `id` of `tab`: this tab's own directly, another's over the channel.
fn answer_tab(shared: &Shared, tab: &TabId, id: u64, answer: Answer) {
    let mine = {
        let inner = shared.borrow();
        let Some(share) = inner.share.as_ref() else {
            return;
        };
        if share.me != *tab {
            let message = share.message("answer", Some(tab));
            set(&message, "id", &JsValue::from_f64(id as f64));
            match &answer {
                Ok(value) => set(&message, "ok", value),
                Err((code, text)) => set(
                    &message,
                    "error",
                    &object(&[
                        ("code", code.as_str().into()),
                        ("message", text.as_str().into()),
                    ]),
                ),
            }
            share.post(&message.into());
        }
        share.me == *tab
    };
    if mine {
        settle(shared, id, answer);
    }
}

/// The outcome of one of the connection's requests: when it answers a tab's call
/// (or a join some tabs wait for), the tab is answered and `true` returned.
pub(in crate::web) fn answered_by_core(
    shared: &Shared,
    request: RequestId,
    outcome: &Result<JsValue, RequestError>,
) -> bool {
    let answers: Vec<(TabId, u64, Answer)> = {
        let mut inner = shared.borrow_mut();
        let Some(leader) = inner.share.as_mut().and_then(|s| s.leader.as_mut()) else {
            return false;
        };
        let failure = |e: &RequestError| (e.code.clone(), e.message.clone());
        if let Some(index) = leader.server_joins.iter().position(|(r, _)| *r == request) {
            let (_, room) = leader.server_joins.swap_remove(index);
            let answer = match outcome {
                Ok(ack) => {
                    let seq = whole_number(&get(ack, "seq")).unwrap_or(0);
                    leader.shares.on_server_joined(&room, seq);
                    Ok(join_ack(&room, seq))
                }
                Err(e) => {
                    leader.shares.on_server_join_failed(&room);
                    Err(failure(e))
                }
            };
            leader
                .calls
                .joined(&room)
                .into_iter()
                .map(|(tab, id)| (tab, id, answer.clone()))
                .collect()
        } else if let Some((tab, id)) = leader.calls.finished(request) {
            vec![(tab, id, outcome.clone().map_err(|e| failure(&e)))]
        } else {
            return false;
        }
    };
    for (tab, id, answer) in answers {
        answer_tab(shared, &tab, id, answer);
    }
    true
}

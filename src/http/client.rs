//! What the HTTP clients (of trainer nodes, of the hub) share.

/// A request that got no complete answer, in words: time limit, no connection, or a broken answer.
pub fn transport_error(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() {
        "no answer within the time limit".to_owned()
    } else if e.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        format!("the answer broke off: {cause}")
    }
}

//! The wire inspector never shows a session (issue 22, finding 12): `?%73ession=<secret>` was
//! accepted as the session, and the inspector's `handshake` event showed it in clear. Whatever
//! spelling of the key or the value the server reads as a session, and any the server might
//! read in a later version (upper case, spaces around it, the `wschat_session` cookie), the
//! event shows `…` in its place.

use serde_json::json;

use crate::support::Server;

/// Every character of `text` as `%XX`, in upper-case hex.
fn percent_encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The `handshake` event's request of a chat connection on `path` with these extra headers:
/// the session its hello gave, and the request as the inspector shows it.
fn inspected(server: &Server, path: &str, headers: &[(&str, &str)]) -> (String, String) {
    let mut client = server.connect_with(path, headers);
    client.welcome();
    client.request(json!({"type": "inspect", "on": true}));
    let shown = client.next_of("handshake")["request"].as_str().unwrap().to_string();
    (client.session().to_string(), shown)
}

#[test]
fn the_inspector_hides_a_session_however_it_is_written() {
    let server = Server::start(&[]);
    let secret = server.joined("name=ann").session().to_string();
    let encoded = percent_encoded(&secret);
    // Each way of writing the session that the server accepts: it must come back in hello.
    for query in [
        format!("name=ann&%73ession={secret}"),
        format!("name=ann&%73%65%73%73%69%6F%6E={secret}"),
        format!("name=ann&session={encoded}"),
        format!("%73ession={encoded}&name=ann"),
        format!("session={secret}&session={secret}"),
        format!("%73ession={secret}&session=AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let (session, shown) = inspected(&server, &format!("/ws?{query}"), &[]);
        assert_eq!(session, secret, "{query}: the session is accepted");
        for form in [&secret, &encoded] {
            assert!(!shown.contains(form.as_str()), "{query}: shown as {shown}");
        }
        assert!(shown.contains("=…"), "{shown}");
    }
    // Spellings the server does not read as a session today: hidden all the same.
    for query in [
        format!("name=ann&SESSION={secret}"),
        format!("name=ann&+session%20={secret}"),
        format!("name=ann&Session={encoded}"),
    ] {
        let (_, shown) = inspected(&server, &format!("/ws?{query}"), &[]);
        for form in [&secret, &encoded] {
            assert!(!shown.contains(form.as_str()), "{query}: shown as {shown}");
        }
    }
    // A cookie, whatever the case of its name.
    for cookie in [
        format!("theme=dark; wschat_session={secret}"),
        format!("WSCHAT_SESSION={secret}; theme=dark"),
    ] {
        let (_, shown) = inspected(&server, "/ws?name=ann", &[("Cookie", &cookie)]);
        assert!(!shown.contains(&secret), "{cookie}: shown as {shown}");
        assert!(shown.contains("theme=dark"), "{shown}");
    }
}

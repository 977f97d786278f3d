//! Operators (issue 28, its first part): `OPERATORS` names sessions by their public user id; such
//! a session is marked `"op":true` in its `hello` and in what it says, it deletes anyone's
//! message, the deletion naming it as `by`, and it kicks a session (every connection closed with
//! 4001 and the reason). Everyone else gets `not_yours` and `not_allowed`.
//!
//! As a deployer does it: a session is made first (its `user` id is in its `hello`), then the
//! server is restarted with that id in `OPERATORS`, and the session comes back (its store keeps
//! it) as an operator.

use serde_json::json;

use crate::support::{Server, fresh_dir, next_event};

#[test]
fn an_operator_deletes_anyones_message_and_is_named_as_by() {
    let mut server = Server::start(&[]);
    let (carol, bob) = (server.joined("name=carol"), server.joined("name=bob"));
    let carol_id = carol.hello["user"].as_str().unwrap().to_string();
    let sessions = (carol.session().to_string(), bob.session().to_string());
    assert!(carol.hello.get("op").is_none(), "nobody is an operator yet: {}", carol.hello);
    drop((carol, bob));

    server.restart_with(&[("OPERATORS", &carol_id)]);
    let mut carol = server.joined(&format!("session={}", sessions.0));
    let mut bob = server.joined(&format!("session={}", sessions.1));
    assert_eq!((&carol.hello["op"], &carol.hello["name"]), (&json!(true), &json!("carol")));
    assert!(bob.hello.get("op").is_none(), "{}", bob.hello);

    // What an operator says is marked; what others say is not.
    bob.say("buy cheap watches");
    let spam = next_event(&mut carol);
    assert!(spam.get("op").is_none(), "{spam}");
    next_event(&mut bob);
    carol.say("please keep it on topic");
    let note = next_event(&mut bob);
    assert_eq!((&note["op"], &note["name"]), (&json!(true), &json!("carol")), "{note}");
    next_event(&mut carol);

    // Bob may not delete the operator's message; the operator deletes his.
    bob.request(json!({"type": "delete", "room": "general", "id": note["id"]}));
    let refused = next_event(&mut bob);
    assert_eq!((&refused["code"], &refused["id"]), (&json!("not_yours"), &note["id"]), "{refused}");
    carol.request(json!({"type": "delete", "room": "general", "id": spam["id"]}));
    for client in [&mut carol, &mut bob] {
        let deleted = next_event(client);
        assert_eq!(
            (&deleted["type"], &deleted["target"], &deleted["by"], &deleted["op"]),
            (&json!("delete"), &spam["id"], &json!("carol"), &json!(true)),
            "{deleted}"
        );
        // Then the room's notice of it (tests/moderation.rs).
        assert_eq!(next_event(client)["type"], "moderation");
    }
    // An operator edits nobody's message but its own.
    carol.request(json!({"type": "edit", "room": "general", "id": note["id"], "text": "x"}));
    assert_eq!(next_event(&mut carol)["type"], "edit");
    bob.say("again");
    let again = next_event(&mut carol)["id"].clone();
    carol.request(json!({"type": "edit", "room": "general", "id": again, "text": "censored"}));
    assert_eq!(next_event(&mut carol)["code"], "not_yours");

    // Everyone's page shows the spam deleted, its text gone.
    let mut dave = server.connect("/ws?name=dave");
    let history = dave.welcome();
    let deleted = history["messages"].as_array().unwrap().iter().find(|m| m["id"] == spam["id"]);
    let deleted = deleted.expect("still in its place");
    assert_eq!(deleted["deleted"], true, "{deleted}");
    assert!(!history.to_string().contains("cheap watches"), "{history}");
}

#[test]
fn operators_that_are_not_user_ids_stop_the_server_with_a_clear_error() {
    for bad in ["alice", "LJgLhthO3_LJUFo", "LJgLhthO3_LJUFoX,not an id", "LJgLhthO3_LJUFo!"] {
        let (status, stderr) = Server::start_failing(&fresh_dir(), &[("OPERATORS", bad)]);
        assert_eq!(status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("OPERATORS"), "{bad}: {stderr}");
    }
    // A list with spaces and an empty item is fine.
    let server = Server::start(&[("OPERATORS", " LJgLhthO3_LJUFoX , ,AAAAAAAAAAAAAAAA")]);
    assert!(server.joined("name=x").hello.get("op").is_none());
}

#[test]
fn an_operator_kicks_every_connection_of_a_session_and_nobody_else_may() {
    let mut server = Server::start(&[]);
    let carol = server.joined("name=carol");
    let (carol_id, session) =
        (carol.hello["user"].as_str().unwrap().to_string(), carol.session().to_string());
    drop(carol);
    server.restart_with(&[("OPERATORS", &carol_id)]);
    let mut carol = server.joined(&format!("session={session}"));
    let mut bob = server.joined("name=bob");
    let mut bob_tab = server.joined(&format!("session={}", bob.session()));
    let mut dave = server.joined("name=dave");

    // Not an operator: refused, and nobody is closed.
    dave.request(json!({"type": "kick", "name": "bob", "reason": "I do not like him"}));
    let refused = next_event(&mut dave);
    assert_eq!(refused["code"], "not_allowed", "{refused}");
    carol.request(json!({"type": "kick", "name": "nobody-here"}));
    assert_eq!(next_event(&mut carol)["code"], "no_such_user");
    for bad in
        [json!({"type": "kick"}), json!({"type": "kick", "name": "bob", "reason": "x".repeat(101)})]
    {
        carol.request(bad.clone());
        assert_eq!(next_event(&mut carol)["code"], "bad_request", "{bad}");
    }

    carol.request(json!({"type": "kick", "name": "Bob", "reason": "spam"}));
    for client in [&mut bob, &mut bob_tab] {
        assert_eq!(client.close_frame(), (4001, "kicked: spam".to_string()));
    }
    // Everyone else stays; bob may come back (a kick is not a ban), as the same person.
    dave.say("still here");
    assert_eq!(dave.next_of("message")["text"], "still here");
    let again = server.joined(&format!("session={}", bob_tab.session()));
    assert_eq!(again.hello["name"], "bob");
}

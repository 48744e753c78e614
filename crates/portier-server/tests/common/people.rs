//! What the rules about acting on one person say each kind of caller gets
//! (docs/RULES.md#shared-accounts, #administrators), for the isolation
//! tests of the API and of the console, and the people they act on.

use serde_json::json;

use super::{Foreign, TestApp};

/// The callers of the isolation tests, in the order each row's answers are
/// listed: an administrator of our organization, a user manager there, a
/// plain member, a signed-out client, and an administrator of another
/// environment.
pub const PERSONAS: [&str; 5] = [
    "admin",
    "user-manager",
    "member",
    "signed-out",
    "foreign admin",
];

/// What a route that acts on one person reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reach {
    /// Reads, or changes nothing (no such portfolio, nobody waiting).
    Read,
    /// This membership only: an administrator's is administrators' business.
    Membership,
    /// What the account shares with every organization of the person.
    Account,
}

/// The people a person route is tried on: an administrator of our
/// organization, and a person our organization shares with the other
/// environment, once invited and once active.
pub const TARGETS: [&str; 3] = ["administrator", "shared invited", "shared active"];

/// What the rules say a caller gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// What the route answers whoever may (its own success or refusal).
    Allowed,
    SignedOut,
    Forbidden,
    NotFound,
    /// The person's account is shared with organizations the caller does
    /// not manage.
    Elsewhere,
}

/// The verdict for `persona` (admin, user-manager, member, signed-out,
/// foreign admin) on `target`. The other environment's administrator tries
/// its own organization, where it shares the person with ours (an
/// administrator of ours it cannot see). `user_manager`: whether a user
/// manager holds the route's permission at all.
pub fn verdict(reach: Reach, user_manager: bool, persona: &str, target: &str) -> Verdict {
    let shared = target != "administrator";
    match persona {
        "signed-out" => Verdict::SignedOut,
        "member" => Verdict::Forbidden,
        "foreign admin" if !shared => Verdict::NotFound,
        "user-manager" if !user_manager => Verdict::Forbidden,
        "user-manager" if !shared && reach != Reach::Read => Verdict::Forbidden,
        _ if shared && reach == Reach::Account => Verdict::Elsewhere,
        _ => Verdict::Allowed,
    }
}

/// For each of `callers`, its own three people of [`TARGETS`] (so that
/// what one removes another still finds): an active administrator of our
/// organization, and a person in ours and `other`'s, invited and active.
/// Their addresses begin with `prefix`.
pub async fn targets(
    app: &TestApp,
    other: &Foreign,
    callers: usize,
    prefix: &str,
) -> Vec<[String; 3]> {
    let mut people = Vec::new();
    for i in 0..callers {
        let admin = app
            .person(&format!("{prefix}boss{i}@example.nl"), &["administrator"])
            .await;
        let invited = app
            .add_member(json!({"email": format!("{prefix}invited{i}@example.nl")}))
            .await;
        let active = app
            .person(&format!("{prefix}active{i}@example.nl"), &["member"])
            .await;
        for email in [
            format!("{prefix}invited{i}@example.nl"),
            format!("{prefix}active{i}@example.nl"),
        ] {
            let r = app
                .call(
                    "POST",
                    &format!("/api/v1/organizations/{}/members", other.org),
                    Some(&other.token),
                    Some(json!({"email": email})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            assert_eq!(r.body["account_reused"], true, "{}", r.body);
        }
        people.push([admin, invited, active]);
    }
    people
}

/// The address of `target` (an index of [`TARGETS`]) of caller `i`, as
/// [`targets`] made it.
pub fn email_of(prefix: &str, i: usize, target: usize) -> String {
    let kind = ["boss", "invited", "active"][target];
    format!("{prefix}{kind}{i}@example.nl")
}

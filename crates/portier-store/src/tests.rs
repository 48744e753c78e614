//! The store's suite: every test runs on SQLite and on PostgreSQL.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::email::Email;
use portier_core::locale::Locale;
use portier_core::organizations::{Organization, OrganizationPatch};
use portier_core::permissions as p;
use portier_core::rights::{OrgCreate, OrgUpdate, Principal};

use crate::audit::Origin;
use crate::testing::TestDb;
use crate::{Store, both_backends, in_tx, reader};

fn filters_q(q: &str) -> crate::members::MemberFilter {
    crate::members::MemberFilter {
        q: Some(q.into()),
        ..Default::default()
    }
}

/// Links that work for `ttl`, to a local address.
fn links(ttl: Duration) -> crate::lifecycle::Lifecycle {
    crate::lifecycle::Lifecycle {
        activation_ttl: ttl,
        ..crate::lifecycle::Lifecycle::new("http://localhost")
    }
}

fn origin() -> Origin {
    Origin::now(Some("127.0.0.1".into()))
}

fn admin_of(org: &Organization) -> Principal {
    Principal::operator(org)
}

async fn environment(store: &Store, name: &str) -> Organization {
    let email = Email::parse(&format!("admin@{}.example", name.to_lowercase())).unwrap();
    let b = crate::bootstrap::bootstrap(
        store,
        name,
        &email,
        &links(Duration::from_secs(3600)),
        &origin(),
    )
    .await
    .unwrap();
    crate::organizations::get(store, b.organization_id)
        .await
        .unwrap()
        .unwrap()
}

async fn count(store: &Store, table: &'static str) -> i64 {
    let sql = match table {
        "audit_events" => "SELECT COUNT(*) FROM audit_events",
        "mail_outbox" => "SELECT COUNT(*) FROM mail_outbox",
        "organizations" => "SELECT COUNT(*) FROM organizations",
        "accounts" => "SELECT COUNT(*) FROM accounts",
        "memberships" => "SELECT COUNT(*) FROM memberships",
        _ => unreachable!(),
    };
    reader!(store, |c| sqlx::query_scalar(sql).fetch_one(c).await).unwrap()
}

both_backends! {
    async fn migrating_twice_changes_nothing_and_makes_the_store_ready(db) {
        assert!(db.store.is_ready().await.unwrap());
        db.store.migrate().await.unwrap();
        assert!(db.store.is_ready().await.unwrap());
    }

    async fn members_from_before_search_get_their_terms_once_at_the_next_migration(db) {
        let store = &db.store;
        environment(store, "Acme").await;
        environment(store, "Globex").await;
        let terms = || crate::testing::strings(store, "SELECT term FROM member_terms ORDER BY term");
        let before = terms().await;
        assert_eq!(before, vec!["admin@acme.example", "admin@globex.example"]);
        // As a database migrated before member search looks.
        crate::testing::execute(store, "DELETE FROM member_terms").await;
        crate::testing::execute(store, "UPDATE memberships SET sort_key = ''").await;
        crate::testing::execute(store, "INSERT INTO maintenance (task) VALUES ('member_search')").await;
        store.migrate().await.unwrap();
        assert_eq!(terms().await, before);
        let keys = crate::testing::strings(store, "SELECT sort_key FROM memberships ORDER BY sort_key").await;
        assert_eq!(keys, before, "without a name the address is the sort key");
        assert!(crate::testing::strings(store, "SELECT task FROM maintenance").await.is_empty(), "done once");
        crate::testing::execute(store, "DELETE FROM member_terms").await;
        store.migrate().await.unwrap();
        assert!(terms().await.is_empty(), "a second start does not redo it");
    }

    async fn the_role_ids_on_a_membership_follow_its_roles_and_are_filled_in_by_their_migration(db) {
        let store = &db.store;
        environment(store, "Acme").await;
        environment(store, "Globex").await;
        let out_of_step = || crate::testing::role_ids_out_of_step(store);
        assert!(out_of_step().await.is_empty(), "written with the membership");
        // As a database from before the ids were kept on the membership:
        // Acme's administrator with a second role, Globex's with none.
        crate::testing::execute(store, "INSERT INTO membership_roles (membership_id, role_id)
             SELECT m.id, r.id FROM memberships m, roles r
              WHERE m.sort_key = 'admin@acme.example' AND r.organization_id IS NULL AND r.key = 'member'").await;
        crate::testing::execute(store, "DELETE FROM membership_roles WHERE membership_id =
             (SELECT id FROM memberships WHERE sort_key = 'admin@globex.example')").await;
        assert_eq!(out_of_step().await.len(), 2, "the check sees both");
        crate::testing::execute(store, "ALTER TABLE memberships DROP COLUMN role_ids").await;
        let migration = match store.backend() {
            crate::Backend::Sqlite => include_str!("../migrations/sqlite/20261130000014_membership_role_ids.sql"),
            crate::Backend::Postgres => include_str!("../migrations/postgres/20261130000014_membership_role_ids.sql"),
        };
        let mut tx = store.begin().await.unwrap();
        in_tx!(&mut tx, |c| sqlx::raw_sql(sqlx::AssertSqlSafe(migration)).execute(c).await.map(|r| r.rows_affected())).unwrap();
        tx.commit().await.unwrap();
        assert!(out_of_step().await.is_empty(), "filled in by the migration");
        let ids = match store.backend() {
            // Two ids of 16 bytes each.
            crate::Backend::Sqlite => "SELECT CAST(length(role_ids) / 16 AS TEXT) FROM memberships WHERE sort_key = 'admin@acme.example'",
            crate::Backend::Postgres => "SELECT cardinality(role_ids)::text FROM memberships WHERE sort_key = 'admin@acme.example'",
        };
        assert_eq!(crate::testing::strings(store, ids).await, vec!["2"]);
    }

    async fn an_import_job_runs_with_its_starters_rights_as_they_are_when_it_runs(db) {
        use crate::import::{Request, Waiting, check, claim, enqueue, run_job};
        let store = &db.store;
        let email = Email::parse("admin@acme.example").unwrap();
        let b = crate::bootstrap::bootstrap(store, "Acme", &email, &links(Duration::from_secs(3600)), &origin()).await.unwrap();
        let org = crate::organizations::get(store, b.organization_id).await.unwrap().unwrap();
        let now = Utc::now();
        let token = crate::api_tokens::authenticate(store, b.api_token.expose(), now).await.unwrap().unwrap();
        let job = |n: usize| {
            let principal = token.principal.clone();
            let org = org.clone();
            async move {
                let source = format!("E-mail\r\nnew{n}a@example.nl\r\nnew{n}b@example.nl\r\n").into_bytes();
                let kind = portier_core::import::FileKind::Csv;
                let auth = principal.authorize::<portier_core::rights::MembersInvite>(&org).unwrap();
                let checked = check(store, &auth, kind, &source, |_| {}).await.unwrap();
                let request = Request { file_name: None, kind, source, invite: false, skip_invalid: false };
                enqueue(store, &auth, &request, checked.rows(), Waiting::ToRun, &origin()).await.unwrap()
            }
        };
        let run = |id| async move {
            let claimed = claim(store, Some(id), Utc::now()).await.unwrap().expect("the job is free");
            run_job(store, claimed, false, 1, &links(Duration::from_secs(3600)), |_, _| {}).await
        };
        let members = || count(store, "memberships");
        let before = members().await;
        let done = run(job(1).await).await.unwrap();
        assert_eq!((done.state.as_str(), members().await), ("done", before + 2));
        let forbidden = |e: &crate::Error| matches!(e, crate::Error::Domain(portier_core::Error::Forbidden { .. }));
        // The token that started them is revoked while one job runs (after
        // its first chunk, of one row) and before the other one runs: the
        // running job stops with its chunk written whole, the other adds
        // nobody (as when it resumes after a restart).
        let waiting = job(2).await;
        let running = claim(store, Some(job(3).await), Utc::now()).await.unwrap().unwrap();
        let revoke = || crate::testing::execute(store, "UPDATE api_tokens SET revoked_at = created_at");
        let stopped = run_job(store, running, false, 1, &links(Duration::from_secs(3600)), |done, _| {
            if done == 1 {
                tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(revoke()));
            }
        })
        .await
        .unwrap_err();
        assert!(forbidden(&stopped), "{stopped}");
        assert_eq!(members().await, before + 3);
        let refused = run(waiting).await.unwrap_err();
        assert!(forbidden(&refused), "{refused}");
        assert_eq!(members().await, before + 3);
    }

    async fn both_search_strategies_find_the_same_members_in_the_same_order(db) {
        use crate::members::{MemberCursor, MemberFilter, Strategy, list_by};
        use portier_core::members::{MemberInput, MemberStatus, NewMember};
        let store = &db.store;
        let org = environment(store, "Acme").await;
        let admin = admin_of(&org);
        let auth = admin.authorize::<portier_core::rights::MembersInvite>(&org).unwrap();
        let lifecycle = crate::lifecycle::Lifecycle::new("http://localhost");
        let families = ["Berg", "Bergsma", "Bakker", "Çelik", "Dijk", "Boer"];
        for i in 0..60 {
            let input = MemberInput {
                email: format!("p{i}@example.nl"),
                given_name: Some(["Jan", "Anna", "Bob"][i % 3].into()),
                infix: (i % 4 == 0).then(|| "van der".into()),
                family_name: Some(families[i % families.len()].into()),
                details: portier_core::members::MemberDetails {
                    staff_code: Some(format!("B-{i:03}")),
                    ..Default::default()
                },
                roles: vec![if i % 5 == 0 { "user-manager" } else { "member" }.into()],
                labels: vec![if i % 2 == 0 { "Oost" } else { "West" }.into()],
                active: i % 7 != 0,
                ..MemberInput::default()
            };
            let new = NewMember::parse(input).unwrap();
            crate::members::add(store, &admin, &auth, new, &lifecycle, &origin()).await.unwrap();
        }
        let keys = |page: &[crate::members::MemberView]| page.iter().map(|v| v.account.email.to_string()).collect::<Vec<_>>();
        let filters = [
            MemberFilter { q: Some("b".into()), ..MemberFilter::default() },
            MemberFilter { q: Some("BERG".into()), ..MemberFilter::default() },
            MemberFilter { q: Some("van der b".into()), ..MemberFilter::default() },
            MemberFilter { q: Some("celik".into()), ..MemberFilter::default() },
            MemberFilter { q: Some("p1".into()), ..MemberFilter::default() },
            MemberFilter { q: Some("b-0".into()), role: Some("user-manager".into()), ..MemberFilter::default() },
            MemberFilter { q: Some("jan".into()), label: Some("Oost".into()), ..MemberFilter::default() },
            MemberFilter { q: Some("b".into()), status: Some(MemberStatus::Deactivated), ..MemberFilter::default() },
            MemberFilter { q: Some("a".into()), status: Some(MemberStatus::Invited), ..MemberFilter::default() },
            MemberFilter { q: Some("nobody".into()), ..MemberFilter::default() },
            // No search: read by a filter's index, or the list walked.
            MemberFilter { role: Some("user-manager".into()), ..MemberFilter::default() },
            MemberFilter { label: Some("West".into()), ..MemberFilter::default() },
            MemberFilter { role: Some("member".into()), label: Some("Oost".into()), ..MemberFilter::default() },
            MemberFilter { label: Some("Noord".into()), ..MemberFilter::default() },
            MemberFilter { status: Some(MemberStatus::Deactivated), ..MemberFilter::default() },
        ];
        for filter in filters {
            let mut pages = Vec::new();
            for strategy in [Strategy::Sorted, Strategy::Walk] {
                // Pages of seven, joined up through the cursor.
                let mut seen = Vec::new();
                let mut after: Option<MemberCursor> = None;
                loop {
                    let page = list_by(store, org.id, &filter, after.as_ref(), 7, Some(strategy)).await.unwrap();
                    seen.extend(keys(&page));
                    match page.last() {
                        Some(v) if page.len() == 7 => after = Some(MemberCursor { sort_key: v.sort_key.clone(), account_id: v.account.id }),
                        _ => break,
                    }
                }
                pages.push(seen);
            }
            assert_eq!(pages[0], pages[1], "{filter:?}");
            let all = crate::members::list(store, &admin_of(&org).authorize::<portier_core::rights::MembersRead>(&org).unwrap(), &filter, None, 500).await.unwrap();
            assert_eq!(keys(&all), pages[0], "{filter:?}");
            let mut unique = pages[0].clone();
            unique.dedup();
            assert_eq!(unique.len(), pages[0].len(), "a member matching twice is listed once: {filter:?}");
        }
        let b = crate::members::list(store, &admin_of(&org).authorize::<portier_core::rights::MembersRead>(&org).unwrap(), &filters_q("b"), None, 500).await.unwrap();
        // Berg, Bergsma, Bakker, Boer (family names: 40) and Bob (given name:
        // 20, of whom 8 are also one of those) and the B- staff codes (all 60).
        assert_eq!(b.len(), 60);
        let berg = crate::members::list(store, &admin_of(&org).authorize::<portier_core::rights::MembersRead>(&org).unwrap(), &filters_q("berg"), None, 500).await.unwrap();
        assert_eq!(berg.len(), 20, "Berg and Bergsma");
    }

    async fn bootstrap_creates_an_environment_whose_token_holds_every_permission(db) {
        let email = Email::parse("Beheer.Jansen@Ziekenhuis.nl ").unwrap();
        let b = crate::bootstrap::bootstrap(&db.store, "Ziekenhuis Oost", &email, &links(Duration::from_secs(7 * 86400)), &origin()).await.unwrap();
        assert!(!b.account_reused);
        assert!(b.activation_token.is_some());
        let principal = crate::api_tokens::authenticate(&db.store, b.api_token.expose(), Utc::now()).await.unwrap().unwrap().principal;
        assert_eq!(principal.grants.len(), 1);
        assert_eq!(principal.grants[0].organization_id, b.organization_id);
        assert_eq!(principal.grants[0].permissions, p::all_portier());
        let org = crate::organizations::get(&db.store, b.organization_id).await.unwrap().unwrap();
        assert_eq!(org.name, "Ziekenhuis Oost");
        assert_eq!(org.environment_id, org.id);
        assert_eq!(org.parent_id, None);
        // The account holds the administrator role there.
        let account = crate::members::principal_for_account(&db.store, b.account_id).await.unwrap();
        assert_eq!(account.permissions_on(&org.path), p::all_portier());
        let stored = crate::accounts::get(&db.store, b.account_id).await.unwrap().unwrap();
        assert_eq!(stored.email.as_str(), "beheer.jansen@ziekenhuis.nl");
    }

    async fn an_imports_report_confirmation_and_held_invitations_answer_only_a_proof_on_its_organization(db) {
        use crate::import::{Request, Waiting, check, confirm, enqueue, report, run_now, send_held_invitations};
        use portier_core::rights::{MembersInvite, MembersRead};
        let store = &db.store;
        let (acme, other) = (environment(store, "Acme").await, environment(store, "Other").await);
        let (mine, foreign) = (
            admin_of(&acme).authorize::<MembersInvite>(&acme).unwrap(),
            admin_of(&other).authorize::<MembersInvite>(&other).unwrap(),
        );
        let request = Request {
            file_name: None,
            kind: portier_core::import::FileKind::Csv,
            source: b"E-mail\r\nnew@example.nl\r\n".to_vec(),
            invite: false,
            skip_invalid: false,
        };
        // Held back at once: a report of one line, invitations to send.
        let checked = check(store, &mine, request.kind, &request.source, |_| {}).await.unwrap();
        let done = run_now(store, &mine, &request, checked.rows(), &links(Duration::from_secs(3600)), &origin(), |_| {}).await.unwrap();
        let read_here = admin_of(&acme).authorize::<MembersRead>(&acme).unwrap();
        let read_there = admin_of(&other).authorize::<MembersRead>(&other).unwrap();
        assert_eq!(report(store, &read_here, done.id, None, 0, 10).await.unwrap().len(), 1);
        assert!(report(store, &read_there, done.id, None, 0, 10).await.unwrap().is_empty(), "another organization reads no line");
        let held = send_held_invitations(store, &foreign, done.id, &links(Duration::from_secs(3600)), &origin()).await.unwrap_err();
        assert!(matches!(held, crate::Error::Domain(portier_core::Error::Conflict { .. })), "{held}");
        assert_eq!(send_held_invitations(store, &mine, done.id, &links(Duration::from_secs(3600)), &origin()).await.unwrap(), 1);
        // A dry run waiting for its confirmation: only its organization confirms it.
        let report_of_plan = crate::import::Report::default();
        let planned = enqueue(store, &mine, &request, 1, Waiting::ForConfirmation(&report_of_plan), &origin()).await.unwrap();
        assert!(!confirm(store, &foreign, planned, Utc::now()).await.unwrap());
        assert!(confirm(store, &mine, planned, Utc::now()).await.unwrap());
    }

    async fn a_second_bootstrap_makes_an_independent_environment_and_reuses_the_account(db) {
        let email = Email::parse("jan@example.nl").unwrap();
        let a = crate::bootstrap::bootstrap(&db.store, "A", &email, &links(Duration::from_secs(60)), &origin()).await.unwrap();
        let b = crate::bootstrap::bootstrap(&db.store, "B", &email, &links(Duration::from_secs(60)), &origin()).await.unwrap();
        assert_ne!(a.organization_id, b.organization_id);
        assert_eq!(a.account_id, b.account_id, "one account per person");
        assert!(b.account_reused);
        assert_eq!(count(&db.store, "accounts").await, 1);
        let token_a = crate::api_tokens::authenticate(&db.store, a.api_token.expose(), Utc::now()).await.unwrap().unwrap().principal;
        let org_b = crate::organizations::get(&db.store, b.organization_id).await.unwrap().unwrap();
        assert!(!token_a.sees(&org_b.path), "a token of A must not see B");
    }

    async fn unknown_and_malformed_tokens_authenticate_nobody(db) {
        environment(&db.store, "Acme").await;
        for t in ["", "ptk_", "ptk_0000", "Bearer x", &"ptk_a".repeat(100)] {
            assert!(crate::api_tokens::authenticate(&db.store, t, Utc::now()).await.unwrap().is_none(), "{t}");
        }
    }

    async fn children_are_created_listed_and_updated_with_an_audit_trail(db) {
        let env = environment(&db.store, "Env").await;
        let admin = admin_of(&env);
        let auth = admin.authorize::<OrgCreate>(&env).unwrap();
        let dept = crate::organizations::create_child(&db.store, &auth, "Chirurgie", None, &origin()).await.unwrap();
        let auth = admin.authorize::<OrgCreate>(&dept).unwrap();
        let team = crate::organizations::create_child(&db.store, &auth, "Team A", None, &origin()).await.unwrap();
        assert_eq!(team.environment_id, env.id);
        assert_eq!(team.parent_id, Some(dept.id));

        let other = environment(&db.store, "Other").await;
        let all = crate::organizations::list_within(&db.store, std::slice::from_ref(&env.path), None, 100).await.unwrap();
        let ids: Vec<_> = all.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![env.id, dept.id, team.id]);
        assert!(!ids.contains(&other.id));
        let below = crate::organizations::list_within(&db.store, &[dept.path.clone(), team.path.clone()], None, 100).await.unwrap();
        assert_eq!(below.iter().map(|o| o.id).collect::<Vec<_>>(), vec![dept.id, team.id]);
        let page = crate::organizations::list_within(&db.store, std::slice::from_ref(&env.path), Some(env.id), 1).await.unwrap();
        assert_eq!(page.iter().map(|o| o.id).collect::<Vec<_>>(), vec![dept.id]);

        let auth = admin.authorize::<OrgUpdate>(&dept).unwrap();
        let patch = OrganizationPatch { name: Some("Heelkunde".into()), locale: Some(Locale::Nl), ..Default::default() };
        let updated = crate::organizations::update(&db.store, &auth, patch, &origin()).await.unwrap();
        assert_eq!(updated.name, "Heelkunde");
        assert_eq!(crate::organizations::get(&db.store, dept.id).await.unwrap().unwrap(), updated);
        let events = crate::audit::for_organization(&db.store, dept.id, 10).await.unwrap();
        assert_eq!(events[0].action, "organization.updated");
        assert_eq!(events[0].changes["name"], serde_json::json!({"before": "Chirurgie", "after": "Heelkunde"}));
        assert_eq!(events[0].client_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(events[1].action, "organization.created");
        assert_eq!(crate::audit::verify(&db.store, env.id).await.unwrap(), Ok(7));
    }

    async fn an_update_that_changes_nothing_records_nothing(db) {
        let env = environment(&db.store, "Env").await;
        let before = count(&db.store, "audit_events").await;
        let auth = admin_of(&env).authorize::<OrgUpdate>(&env).unwrap();
        let patch = OrganizationPatch { name: Some(" Env ".into()), ..Default::default() };
        crate::organizations::update(&db.store, &auth, patch, &origin()).await.unwrap();
        assert_eq!(count(&db.store, "audit_events").await, before);
    }

    async fn a_change_its_audit_event_and_its_mail_commit_together_or_not_at_all(db) {
        let env = environment(&db.store, "Env").await;
        let (orgs, events, mails) = (count(&db.store, "organizations").await, count(&db.store, "audit_events").await, count(&db.store, "mail_outbox").await);
        {
            let mut tx = db.store.begin().await.unwrap();
            let org = crate::organizations::create_root(&mut tx, "Never", Actor::Cli, &origin()).await.unwrap();
            let mail = crate::mail::NewMail {
                kind: "test", to: Email::parse("x@example.nl").unwrap(), account_id: None,
                organization_id: Some(org.id), locale: Locale::En, subject: "s".into(), body_text: "b".into(), body_html: None,
            };
            crate::mail::enqueue(&mut tx, &mail, Utc::now()).await.unwrap();
            // Dropped without commit: a failure half-way.
        }
        assert_eq!(count(&db.store, "organizations").await, orgs);
        assert_eq!(count(&db.store, "audit_events").await, events);
        assert_eq!(count(&db.store, "mail_outbox").await, mails);
        let mut tx = db.store.begin().await.unwrap();
        let org = crate::organizations::create_root(&mut tx, "Kept", Actor::Cli, &origin()).await.unwrap();
        let mail = crate::mail::NewMail {
            kind: "test", to: Email::parse("x@example.nl").unwrap(), account_id: None,
            organization_id: Some(org.id), locale: Locale::Nl, subject: "s".into(), body_text: "b".into(), body_html: Some("<p>b</p>".into()),
        };
        crate::mail::enqueue(&mut tx, &mail, Utc::now()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&db.store, "organizations").await, orgs + 1);
        assert_eq!(count(&db.store, "audit_events").await, events + 1);
        assert_eq!(count(&db.store, "mail_outbox").await, mails + 1);
        let _ = env;
    }

    async fn a_profile_change_and_a_new_password_are_written_together_or_not_at_all(db) {
        use crate::accounts::{NewPassword, ProfilePatch, update_profile};
        let store = &db.store;
        environment(store, "Acme").await;
        let email = Email::parse("admin@acme.example").unwrap();
        let account = crate::accounts::find_by_email(store, &email).await.unwrap().unwrap();
        let events = count(store, "audit_events").await;
        // The database refuses the new password, after the profile's
        // update in the same call has been written.
        match store.backend() {
            crate::Backend::Sqlite => {
                crate::testing::execute(store, "CREATE TRIGGER refuse_passwords BEFORE INSERT ON credentials WHEN NEW.kind = 'password' BEGIN SELECT RAISE(ABORT, 'refused'); END").await;
            }
            crate::Backend::Postgres => {
                crate::testing::execute(store, "CREATE FUNCTION refuse_passwords() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$").await;
                crate::testing::execute(store, "CREATE TRIGGER refuse_passwords BEFORE INSERT ON credentials FOR EACH ROW WHEN (NEW.kind = 'password') EXECUTE FUNCTION refuse_passwords()").await;
            }
        }
        let patch = ProfilePatch { given_name: Some(Some("Anna".into())), ..ProfilePatch::default() };
        let password = NewPassword { hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", keep_session: None };
        update_profile(store, &account, patch.clone(), Some(password), &origin()).await.unwrap_err();
        let kept = crate::accounts::get(store, account.id).await.unwrap().unwrap();
        assert_eq!(kept.name.given_name, account.name.given_name, "the name is not changed without the password");
        assert_eq!(count(store, "audit_events").await, events, "nor audited");
        match store.backend() {
            crate::Backend::Sqlite => crate::testing::execute(store, "DROP TRIGGER refuse_passwords").await,
            crate::Backend::Postgres => crate::testing::execute(store, "DROP TRIGGER refuse_passwords ON credentials").await,
        };
        update_profile(store, &account, patch, Some(password), &origin()).await.unwrap();
        let changed = crate::accounts::get(store, account.id).await.unwrap().unwrap();
        assert_eq!(changed.name.given_name.as_deref(), Some("Anna"));
        assert_eq!(count(store, "audit_events").await, events + 2, "the profile's change and the password's");
    }

    async fn audit_events_cannot_be_altered_or_deleted(db) {
        let env = environment(&db.store, "Env").await;
        let mut tx = db.store.begin().await.unwrap();
        let r = in_tx!(&mut tx, |c| sqlx::query("UPDATE audit_events SET action = 'x'").execute(c).await.map(|r| r.rows_affected()));
        assert!(r.is_err(), "an update of the trail must be refused");
        drop(tx);
        let mut tx = db.store.begin().await.unwrap();
        let r = in_tx!(&mut tx, |c| sqlx::query("DELETE FROM audit_events").execute(c).await.map(|r| r.rows_affected()));
        assert!(r.is_err(), "a delete from the trail must be refused");
        drop(tx);
        assert_eq!(crate::audit::verify(&db.store, env.id).await.unwrap(), Ok(4));
    }

    async fn concurrent_writers_of_one_environment_keep_one_unbroken_chain(db) {
        let env = environment(&db.store, "Env").await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = db.store.clone();
            let env = env.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let event = NewAuditEvent {
                    actor: Actor::System, action: "test.happened", organization_id: Some(env.id),
                    target_type: "test", target_id: i.to_string(), changes: serde_json::json!({"i": i}), client_addr: None,
                };
                crate::audit::record(&mut tx, env.id, event, Utc::now()).await.unwrap();
                tx.commit().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(crate::audit::verify(&db.store, env.id).await.unwrap(), Ok(4 + 12));
        let lanes = crate::testing::strings(&db.store, "SELECT DISTINCT CAST(lane AS TEXT) FROM audit_events").await;
        assert!(lanes.len() > 1, "writers spread over the lanes: {lanes:?}");
    }

    async fn the_end_of_a_lane_cannot_be_cut_off_unnoticed(db) {
        let env = environment(&db.store, "Env").await;
        let (lane, last): (i16, i64) = reader!(&db.store, |c| sqlx::query_as(
            "SELECT lane, seq FROM audit_events ORDER BY id DESC LIMIT 1").fetch_one(c).await).unwrap();
        // Someone with the database's keys removes the newest event, around
        // the append-only trigger.
        let mut tx = db.store.begin().await.unwrap();
        let sqls: &[&str] = match tx.backend() {
            crate::Backend::Sqlite => &["DROP TRIGGER audit_events_append_only_delete",
                "DELETE FROM audit_events WHERE id = (SELECT id FROM audit_events ORDER BY id DESC LIMIT 1)"],
            crate::Backend::Postgres => &["ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
                "DELETE FROM audit_events WHERE id = (SELECT id FROM audit_events ORDER BY id DESC LIMIT 1)"],
        };
        for sql in sqls {
            in_tx!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(*sql)).execute(c).await.map(|r| r.rows_affected())).unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(crate::audit::verify(&db.store, env.id).await.unwrap(),
            Err(portier_core::audit::ChainBroken::Gap { lane, seq: last }));
    }

    async fn a_trail_from_before_the_lanes_stays_valid_as_lane_zero(db) {
        use portier_core::audit::{AuditEvent, GENESIS};
        let db = TestDb::unmigrated(db.store.backend()).await;
        let store = &db.store;
        crate::testing::migrate_schema_to(store, 20261122000003).await;
        let env = portier_core::ids::OrganizationId::new();
        let mut prev = GENESIS.to_owned();
        for seq in 1..=3 {
            let new = NewAuditEvent {
                actor: Actor::Cli, action: "test.happened", organization_id: None,
                target_type: "test", target_id: seq.to_string(), changes: serde_json::json!({"seq": seq}), client_addr: None,
            };
            let e = AuditEvent::chained(new, env, 0, seq, prev.clone(), Utc::now().trunc_subsecs(6));
            prev = e.hash();
            let mut tx = store.begin().await.unwrap();
            in_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO audit_events (id, environment_id, seq, at, actor, action, target_type, target_id, changes, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(e.id.0).bind(env.0).bind(seq).bind(e.at).bind(sqlx::types::Json(&e.actor)).bind(&e.action)
                .bind(&e.target_type).bind(&e.target_id).bind(sqlx::types::Json(&e.changes)).bind(&e.prev_hash).bind(&prev)
                .execute(c).await.map(|r| r.rows_affected())).unwrap();
            in_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO audit_heads (environment_id, seq, hash) VALUES ($1, $2, $3)
                 ON CONFLICT (environment_id) DO UPDATE SET seq = $2, hash = $3")
                .bind(env.0).bind(seq).bind(&prev).execute(c).await.map(|r| r.rows_affected())).unwrap();
            tx.commit().await.unwrap();
        }
        store.migrate().await.unwrap();
        assert_eq!(crate::audit::verify(store, env).await.unwrap(), Ok(3));
        for i in 0..10 {
            let mut tx = store.begin().await.unwrap();
            let new = NewAuditEvent {
                actor: Actor::System, action: "test.happened", organization_id: None,
                target_type: "test", target_id: format!("after-{i}"), changes: serde_json::json!({}), client_addr: None,
            };
            crate::audit::record(&mut tx, env, new, Utc::now()).await.unwrap();
            tx.commit().await.unwrap();
        }
        assert_eq!(crate::audit::verify(store, env).await.unwrap(), Ok(13));
    }

    async fn changed_rights_are_told_once_after_the_commit_and_never_after_a_rollback(db) {
        use crate::rights::{Change, changed};
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let ear = std::sync::Arc::clone(&heard);
        db.store.rights_feed().subscribe(move |c| ear.lock().unwrap().push(c));
        let (a, b) = (portier_core::ids::OrganizationId(uuid::Uuid::now_v7()), portier_core::ids::OrganizationId(uuid::Uuid::now_v7()));
        let mut tx = db.store.begin().await.unwrap();
        for env in [a, b, a] {
            changed(&mut tx, env).await.unwrap();
        }
        assert!(heard.lock().unwrap().is_empty(), "nothing is told before the commit");
        tx.commit().await.unwrap();
        assert_eq!(*heard.lock().unwrap(), vec![Change::Environment(a), Change::Environment(b)]);
        let mut tx = db.store.begin().await.unwrap();
        changed(&mut tx, b).await.unwrap();
        drop(tx);
        assert_eq!(heard.lock().unwrap().len(), 2, "a rollback tells nothing");
    }

    async fn an_activation_token_is_stored_only_as_its_hash(db) {
        let email = Email::parse("jan@example.nl").unwrap();
        let b = crate::bootstrap::bootstrap(&db.store, "Env", &email, &links(Duration::from_secs(60)), &origin()).await.unwrap();
        let secret = b.activation_token.unwrap();
        let stored: Vec<String> = reader!(&db.store, |c| sqlx::query_scalar("SELECT token_hash FROM tokens").fetch_all(c).await).unwrap();
        assert_eq!(stored, vec![secret.hash()]);
        let api: Vec<String> = reader!(&db.store, |c| sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_all(c).await).unwrap();
        assert_eq!(api, vec![b.api_token.hash()]);
        assert!(!api[0].contains(b.api_token.expose()));
    }
}

/// Both migration folders must define the same tables with the same columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_schemas_define_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite().await;
    let postgres = TestDb::postgres().await;
    let lite: BTreeSet<(String, String)> = {
        let tables: Vec<String> = reader!(&sqlite.store, |c| sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'"
        ).fetch_all(c).await).unwrap();
        let mut cols = BTreeSet::new();
        for t in tables {
            let names: Vec<String> = reader!(&sqlite.store, |c| sqlx::query_scalar(
                "SELECT name FROM pragma_table_info($1)"
            )
            .bind(&t)
            .fetch_all(c)
            .await)
            .unwrap();
            cols.extend(names.into_iter().map(|n| (t.clone(), n)));
        }
        cols
    };
    let pg: BTreeSet<(String, String)> = {
        let rows: Vec<(String, String)> = reader!(&postgres.store, |c| sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'"
        )
        .fetch_all(c)
        .await)
        .unwrap();
        rows.into_iter().collect()
    };
    assert!(lite.len() > 50, "the schema looks empty: {lite:?}");
    let only_sqlite: Vec<_> = lite.difference(&pg).collect();
    let only_pg: Vec<_> = pg.difference(&lite).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "only in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_pg:?}"
    );
    let tables: BTreeSet<&str> = lite.iter().map(|(t, _)| t.as_str()).collect();
    for t in [
        "accounts",
        "organizations",
        "memberships",
        "roles",
        "role_permissions",
        "membership_roles",
        "tokens",
        "credentials",
        "sessions",
        "audit_events",
        "mail_outbox",
        "api_tokens",
    ] {
        assert!(tables.contains(t), "missing table {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_database_is_not_ready() {
    let db = TestDb::sqlite_unmigrated().await;
    assert!(!db.store.is_ready().await.unwrap());
    let db = TestDb::postgres_unmigrated().await;
    assert!(!db.store.is_ready().await.unwrap());
}

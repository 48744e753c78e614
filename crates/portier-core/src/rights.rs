//! Who may do what where. A [`Principal`] is the caller with the grants it holds;
//! a grant on an organization holds on all its descendants and never on its
//! parent. Store functions that read or change an organization's data take an
//! [`Authorized`] proof, which only [`Principal::authorize`] can make, so a
//! route that forgot to check does not compile.

use std::marker::PhantomData;

use crate::Error;
use crate::audit::Actor;
use crate::ids::OrganizationId;
use crate::organizations::{OrgPath, Organization};
use crate::permissions::{self as p, Permission, PermissionSet};

/// Rights held on one organization (and so on everything below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub organization_id: OrganizationId,
    pub path: OrgPath,
    /// May be empty: a member without rights still sees their organization.
    pub permissions: PermissionSet,
}

/// The caller of a request, with everything it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    pub grants: Vec<Grant>,
}

/// A permission known at compile time, for [`Authorized`] proofs.
pub trait Right {
    const PERMISSION: Permission;
}

macro_rules! rights {
    ($($ty:ident => $konst:ident),* $(,)?) => {$(
        #[doc = concat!("The right to `", stringify!($konst), "`.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl Right for $ty {
            const PERMISSION: Permission = p::$konst;
        }
    )*};
}

rights! {
    MembersRead => MEMBERS_READ,
    MembersInvite => MEMBERS_INVITE,
    MembersUpdate => MEMBERS_UPDATE,
    MembersRemove => MEMBERS_REMOVE,
    RolesAssign => ROLES_ASSIGN,
    AdminsManage => ADMINS_MANAGE,
    RolesManage => ROLES_MANAGE,
    GroupsManage => GROUPS_MANAGE,
    PortfoliosManage => PORTFOLIOS_MANAGE,
    BillingRead => BILLING_READ,
    AuditRead => AUDIT_READ,
    OrgUpdate => ORG_UPDATE,
    OrgCreate => ORG_CREATE,
    TokensManage => TOKENS_MANAGE,
    ResourcesManage => RESOURCES_MANAGE,
    DomainsManage => DOMAINS_MANAGE,
}

/// The rights that act on an organization's members one by one: whoever
/// holds one may read the member they act on (the store's reads of one
/// member take any of these; listing members takes `members.read`).
pub trait OnMembers: Right {}

impl OnMembers for MembersRead {}
impl OnMembers for MembersInvite {}
impl OnMembers for MembersUpdate {}
impl OnMembers for MembersRemove {}
impl OnMembers for RolesAssign {}
impl OnMembers for AdminsManage {}
impl OnMembers for PortfoliosManage {}

/// Proof that the caller holds `R` on `organization_id`. Only
/// [`Principal::authorize`] makes one. It carries everything the caller
/// holds, so that a change which reaches further than the organization (a
/// person's account, which is theirs in every organization they belong to)
/// is decided from the proof too ([`Authorized::over_account`]).
#[derive(Debug)]
pub struct Authorized<R: Right> {
    /// The organization as it was read when the proof was made.
    organization: Organization,
    caller: Principal,
    _right: PhantomData<fn() -> R>,
}

// By hand: a derived `Clone` would ask the right's marker type to be `Clone`.
impl<R: Right> Clone for Authorized<R> {
    fn clone(&self) -> Self {
        Authorized {
            organization: self.organization.clone(),
            caller: self.caller.clone(),
            _right: PhantomData,
        }
    }
}

impl<R: Right> Authorized<R> {
    pub fn organization_id(&self) -> OrganizationId {
        self.organization.id
    }

    pub fn environment_id(&self) -> OrganizationId {
        self.organization.environment_id
    }

    /// The organization the right is held on, as read when the proof was
    /// made (a change reads it again in its transaction).
    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// The caller's proof of another right on the same organization.
    pub fn and<S: Right>(&self) -> Result<Authorized<S>, Error> {
        self.caller.authorize::<S>(&self.organization)
    }

    pub fn actor(&self) -> &Actor {
        &self.caller.actor
    }

    /// Everything the caller holds, for the rules that look beyond this
    /// organization.
    pub fn principal(&self) -> &Principal {
        &self.caller
    }

    /// Acting on one member of this organization (changing their fields
    /// here, deactivating, removing, inviting again): someone who holds an
    /// administrator role on this organization, above it or within it is
    /// administrators' business, so it also needs `admins.manage` here
    /// (docs/RULES.md#administrators). `seats` are the person's
    /// memberships, from [`Seat`]s read in the same transaction as the
    /// change.
    pub fn over_member(&self, seats: &[Seat]) -> Result<(), Error> {
        let administers_here = seats.iter().any(|s| {
            s.administrator
                && (self.organization.path.is_within(&s.path)
                    || s.path.is_within(&self.organization.path))
        });
        if administers_here
            && !self
                .caller
                .holds(&p::ADMINS_MANAGE, &self.organization.path)
        {
            return Err(Error::Forbidden {
                permission: p::ADMINS_MANAGE,
            });
        }
        Ok(())
    }

    /// Changing what a person's account shares between every organization
    /// they belong to (address, name, second factors, sessions,
    /// docs/RULES.md#shared-accounts): the caller must hold `R` in every
    /// one of them (else [`Error::MemberElsewhere`]) and `admins.manage`
    /// wherever the person holds an administrator role. One environment
    /// can then never change, through a person it shares with another,
    /// what that other environment relies on. Includes
    /// [`Authorized::over_member`].
    pub fn over_account(&self, seats: &[Seat]) -> Result<(), Error> {
        if seats
            .iter()
            .any(|s| !self.caller.holds(&R::PERMISSION, &s.path))
        {
            return Err(Error::MemberElsewhere);
        }
        if seats
            .iter()
            .any(|s| s.administrator && !self.caller.holds(&p::ADMINS_MANAGE, &s.path))
        {
            return Err(Error::Forbidden {
                permission: p::ADMINS_MANAGE,
            });
        }
        self.over_member(seats)
    }
}

/// One organization a person belongs to, as the rules about acting on
/// people read it ([`Authorized::over_member`], [`Authorized::over_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub path: OrgPath,
    /// The person holds an administrator role there (deactivated or not).
    pub administrator: bool,
}

impl Principal {
    /// The operator at the command line, who runs the server: every right
    /// on `org` and below.
    pub fn operator(org: &Organization) -> Principal {
        Principal {
            actor: Actor::Cli,
            grants: vec![Grant {
                organization_id: org.id,
                path: org.path.clone(),
                permissions: p::all_portier(),
            }],
        }
    }

    /// True when the caller may know that the organization exists: it holds a
    /// grant (any, even an empty one) on it or on one of its ancestors.
    pub fn sees(&self, path: &OrgPath) -> bool {
        self.grants.iter().any(|g| path.is_within(&g.path))
    }

    pub fn holds(&self, permission: &Permission, path: &OrgPath) -> bool {
        self.grants
            .iter()
            .any(|g| path.is_within(&g.path) && g.permissions.contains(permission))
    }

    /// Everything the caller holds on an organization, inherited grants included.
    pub fn permissions_on(&self, path: &OrgPath) -> PermissionSet {
        self.grants
            .iter()
            .filter(|g| path.is_within(&g.path))
            .flat_map(|g| g.permissions.iter().cloned())
            .collect()
    }

    /// 404 when the caller cannot see the organization (so nothing leaks about
    /// what exists elsewhere), 403 when it can but lacks the right.
    pub fn can_see(&self, org: &Organization) -> Result<(), Error> {
        if self.sees(&org.path) {
            Ok(())
        } else {
            Err(Error::NotFound {
                what: "organization",
            })
        }
    }

    /// The delegation rule: a token or role handed out by this caller may carry
    /// only permissions the caller itself holds on that organization, so nobody
    /// can mint more rights than they have.
    pub fn may_delegate(
        &self,
        permissions: &PermissionSet,
        path: &OrgPath,
        field: &str,
    ) -> Result<(), Error> {
        let held = self.permissions_on(path);
        match permissions.iter().find(|p| !held.contains(*p)) {
            None => Ok(()),
            Some(p) => Err(Error::Invalid(crate::FieldError::new(
                field,
                "permission_not_held",
                format!("you cannot hand out {p}: you do not hold it on this organization"),
            ))),
        }
    }

    /// Defining or changing a role (`roles.manage` is checked by the proof):
    /// an administrator role also needs `admins.manage` (what administrators
    /// may do is administrators' business), and a role may carry only the
    /// Portier permissions its definer holds there, so nobody writes
    /// themselves more rights than they have. The product's own permissions
    /// are the organization's to give meaning to
    /// (docs/RULES.md#roles-and-permissions).
    pub fn may_define(
        &self,
        kind: crate::roles::RoleKind,
        permissions: &PermissionSet,
        path: &OrgPath,
    ) -> Result<(), Error> {
        if kind == crate::roles::RoleKind::Admin && !self.holds(&p::ADMINS_MANAGE, path) {
            return Err(Error::Forbidden {
                permission: p::ADMINS_MANAGE,
            });
        }
        let portier: PermissionSet = permissions
            .iter()
            .filter(|p| p.is_portier())
            .cloned()
            .collect();
        self.may_delegate(&portier, path, "permissions")
    }

    /// Administrator roles are granted apart from content roles
    /// (docs/RULES.md#roles-and-permissions). Only holders of `admins.manage`
    /// grant an admin-kind role; any role beyond `member` (no rights) needs
    /// `roles.assign`.
    pub fn may_grant(&self, roles: &[crate::roles::Role], path: &OrgPath) -> Result<(), Error> {
        use crate::roles::{MEMBER, RoleKind};
        if roles.iter().any(|r| r.kind == RoleKind::Admin) && !self.holds(&p::ADMINS_MANAGE, path) {
            return Err(Error::Forbidden {
                permission: p::ADMINS_MANAGE,
            });
        }
        if roles.iter().any(|r| r.key.as_str() != MEMBER) && !self.holds(&p::ROLES_ASSIGN, path) {
            return Err(Error::Forbidden {
                permission: p::ROLES_ASSIGN,
            });
        }
        Ok(())
    }

    pub fn authorize<R: Right>(&self, org: &Organization) -> Result<Authorized<R>, Error> {
        self.can_see(org)?;
        if !self.holds(&R::PERMISSION, &org.path) {
            return Err(Error::Forbidden {
                permission: R::PERMISSION,
            });
        }
        Ok(Authorized {
            organization: org.clone(),
            caller: self.clone(),
            _right: PhantomData,
        })
    }
}

/// A relation a member or group was granted on a resource (a mailbox, an
/// administration: docs/RULES.md#resources), as the check API reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// Where the resource is registered; it is seen there and below.
    pub path: OrgPath,
    pub resource_type: String,
    pub resource_key: String,
    pub relation: String,
}

/// Everything one account holds in one environment, compiled once so that
/// each question costs no SQL (docs/RULES.md#the-check-api): permissions per
/// organization (from its own roles and its groups' roles), and relations
/// on resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledRights {
    pub grants: Vec<(OrgPath, PermissionSet)>,
    pub relations: Vec<Relation>,
}

/// One question to the check API.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub permission: &'a str,
    /// The organization asked about.
    pub path: &'a OrgPath,
    /// `(type, id)` of a resource of that organization (or above it).
    pub resource: Option<(&'a str, &'a str)>,
}

impl CompiledRights {
    /// Whether the account may do what the question asks. Rights held on an
    /// organization hold below it, never above. With a resource, the
    /// permission is `<type>.<relation>` (`mailbox.use`): held through a
    /// role on the organization it covers every resource of that type
    /// there; granted on the resource it covers that one. A permission
    /// nobody holds is simply not allowed.
    pub fn allows(&self, q: Question<'_>) -> bool {
        let by_role = self.grants.iter().any(|(path, permissions)| {
            q.path.is_within(path) && permissions.iter().any(|p| p.as_str() == q.permission)
        });
        if by_role {
            return true;
        }
        let Some((kind, key)) = q.resource else {
            return false;
        };
        let Some(relation) = q
            .permission
            .strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            return false;
        };
        self.relations.iter().any(|r| {
            r.resource_type == kind
                && r.resource_key == key
                && r.relation == relation
                && q.path.is_within(&r.path)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::organizations::new_organization;

    fn tree() -> (Organization, Organization, Organization) {
        let now = chrono::Utc::now();
        let env = new_organization("Env", None, None, now).unwrap();
        let a = new_organization("A", Some(&env), None, now).unwrap();
        let b = new_organization("B", Some(&env), None, now).unwrap();
        (env, a, b)
    }

    fn principal(on: &Organization, permissions: PermissionSet) -> Principal {
        Principal {
            actor: Actor::Cli,
            grants: vec![Grant {
                organization_id: on.id,
                path: on.path.clone(),
                permissions,
            }],
        }
    }

    #[test]
    fn rights_on_an_environment_reach_every_organization_in_it() {
        let (env, a, _) = tree();
        let admin = principal(&env, p::all_portier());
        assert!(admin.authorize::<OrgUpdate>(&a).is_ok());
        assert!(admin.authorize::<OrgUpdate>(&env).is_ok());
    }

    #[test]
    fn a_proof_names_its_organization_and_gives_another_right_only_where_held() {
        let (env, a, _) = tree();
        let reader = principal(&env, PermissionSet::from_iter([p::MEMBERS_READ]));
        let proof = reader.authorize::<MembersRead>(&a).unwrap();
        assert_eq!(proof.organization(), &a);
        assert_eq!(proof.organization_id(), a.id);
        assert_eq!(proof.environment_id(), env.id);
        assert!(proof.and::<MembersRead>().is_ok());
        assert_eq!(
            proof.and::<MembersUpdate>().unwrap_err(),
            Error::Forbidden {
                permission: p::MEMBERS_UPDATE
            }
        );
        let operator = Principal::operator(&a);
        assert!(operator.authorize::<AdminsManage>(&a).is_ok());
        assert!(operator.authorize::<MembersRead>(&env).is_err());
    }

    #[test]
    fn rights_on_a_child_give_nothing_on_its_parent_or_siblings() {
        let (env, a, b) = tree();
        let child_admin = principal(&a, p::all_portier());
        assert_eq!(
            child_admin.authorize::<OrgUpdate>(&env).unwrap_err(),
            Error::NotFound {
                what: "organization"
            }
        );
        assert_eq!(
            child_admin.authorize::<OrgUpdate>(&b).unwrap_err(),
            Error::NotFound {
                what: "organization"
            }
        );
    }

    #[test]
    fn a_member_without_rights_sees_but_may_not_change() {
        let (env, _, _) = tree();
        let member = principal(&env, PermissionSet::new());
        assert!(member.can_see(&env).is_ok());
        assert_eq!(
            member.authorize::<OrgUpdate>(&env).unwrap_err(),
            Error::Forbidden {
                permission: p::ORG_UPDATE
            }
        );
    }

    #[test]
    fn nobody_can_hand_out_more_than_they_hold() {
        let (env, a, _) = tree();
        let manager: PermissionSet = [p::MEMBERS_READ, p::TOKENS_MANAGE].into_iter().collect();
        let principal = principal(&env, manager);
        let fine: PermissionSet = [p::MEMBERS_READ].into_iter().collect();
        assert!(
            principal
                .may_delegate(&fine, &a.path, "permissions")
                .is_ok()
        );
        let greedy: PermissionSet = [p::MEMBERS_READ, p::ADMINS_MANAGE].into_iter().collect();
        let e = principal
            .may_delegate(&greedy, &a.path, "permissions")
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(f) if f.field == "permissions" && f.message.contains("admins.manage"))
        );
    }

    #[test]
    fn administrator_roles_need_admins_manage() {
        let (env, a, _) = tree();
        let roles = crate::roles::builtins();
        let admin_role = roles
            .iter()
            .find(|r| r.key.as_str() == "administrator")
            .unwrap()
            .clone();
        let member_role = roles
            .iter()
            .find(|r| r.key.as_str() == "member")
            .unwrap()
            .clone();
        let um_role = roles
            .iter()
            .find(|r| r.key.as_str() == "user-manager")
            .unwrap()
            .clone();
        let key_user = principal(&env, um_role.permissions.clone());
        assert_eq!(
            key_user.may_grant(std::slice::from_ref(&admin_role), &a.path),
            Err(Error::Forbidden {
                permission: p::ADMINS_MANAGE
            })
        );
        assert_eq!(
            key_user.may_grant(std::slice::from_ref(&member_role), &a.path),
            Ok(())
        );
        let inviter = principal(&env, [p::MEMBERS_INVITE].into_iter().collect());
        assert_eq!(inviter.may_grant(&[member_role], &a.path), Ok(()));
        assert_eq!(
            inviter.may_grant(&[um_role], &a.path),
            Err(Error::Forbidden {
                permission: p::ADMINS_MANAGE
            })
        );
        let admin = principal(&env, p::all_portier());
        assert_eq!(admin.may_grant(&[admin_role], &a.path), Ok(()));
    }

    #[test]
    fn the_proof_carries_the_organization_and_actor() {
        let (env, a, _) = tree();
        let proof = principal(&env, p::all_portier())
            .authorize::<OrgCreate>(&a)
            .unwrap();
        assert_eq!(proof.organization_id(), a.id);
        assert_eq!(proof.environment_id(), env.id);
        assert_eq!(proof.actor(), &Actor::Cli);
    }

    fn compiled() -> (CompiledRights, OrgPath, OrgPath, OrgPath) {
        let env = OrgPath::root(OrganizationId::new());
        let ward = env.child(OrganizationId::new()).unwrap();
        let other = env.child(OrganizationId::new()).unwrap();
        let rights = CompiledRights {
            grants: vec![(
                ward.clone(),
                ["documents.read", "mailbox.use"]
                    .iter()
                    .map(|p| Permission::parse("p", p).unwrap())
                    .collect(),
            )],
            relations: vec![Relation {
                path: env.clone(),
                resource_type: "administration".into(),
                resource_key: "fin-01".into(),
                relation: "manage".into(),
            }],
        };
        (rights, env, ward, other)
    }

    #[test]
    fn compiled_rights_reach_down_never_up_and_unknown_permissions_are_refused() {
        let (rights, env, ward, other) = compiled();
        let ask = |permission, path| {
            rights.allows(Question {
                permission,
                path,
                resource: None,
            })
        };
        assert!(ask("documents.read", &ward));
        let team = ward.child(OrganizationId::new()).unwrap();
        assert!(ask("documents.read", &team), "held below");
        assert!(!ask("documents.read", &env), "never above");
        assert!(!ask("documents.read", &other), "never beside");
        assert!(!ask("documents.delete", &ward), "nobody holds it");
    }

    #[test]
    fn a_resource_is_allowed_by_a_grant_on_it_or_a_role_for_its_type() {
        let (rights, env, ward, _) = compiled();
        let ask = |permission, path, resource| {
            rights.allows(Question {
                permission,
                path,
                resource: Some(resource),
            })
        };
        assert!(
            ask("administration.manage", &ward, ("administration", "fin-01")),
            "granted on the environment's administration"
        );
        assert!(
            !ask("administration.manage", &ward, ("administration", "fin-02")),
            "another one"
        );
        assert!(
            !ask("administration.use", &ward, ("administration", "fin-01")),
            "another relation"
        );
        assert!(
            !ask("mailbox.manage", &ward, ("administration", "fin-01")),
            "another type"
        );
        assert!(
            ask("mailbox.use", &ward, ("mailbox", "sales")),
            "a role's mailbox.use covers every mailbox there"
        );
        assert!(
            !ask("mailbox.use", &env, ("mailbox", "sales")),
            "but not above the role"
        );
    }

    /// A caller holding, on each organization given, the permissions named.
    fn holding(grants: &[(&OrgPath, &[&str])]) -> Principal {
        Principal {
            actor: Actor::Cli,
            grants: grants
                .iter()
                .map(|(path, names)| Grant {
                    organization_id: path.ids().last().unwrap(),
                    path: (*path).clone(),
                    permissions: set(names),
                })
                .collect(),
        }
    }

    fn set(names: &[&str]) -> PermissionSet {
        names
            .iter()
            .map(|n| Permission::parse("p", n).unwrap())
            .collect()
    }

    fn not_held(e: Result<(), Error>, permission: &str) {
        match e {
            Err(Error::Invalid(f)) => {
                assert_eq!(
                    (f.field.as_str(), f.code),
                    ("permissions", "permission_not_held")
                );
                assert_eq!(
                    f.message,
                    format!(
                        "you cannot hand out {permission}: you do not hold it on this organization"
                    )
                );
            }
            other => panic!("expected {permission} refused as not held, got {other:?}"),
        }
    }

    const FORBIDDEN_ADMINS: Error = Error::Forbidden {
        permission: p::ADMINS_MANAGE,
    };

    /// docs/RULES.md#roles-and-permissions: a content role needs no
    /// `admins.manage`, only the Portier permissions it carries.
    #[test]
    fn a_content_role_may_be_defined_with_the_permissions_its_definer_holds() {
        let (env, a, _) = tree();
        use crate::roles::RoleKind::Content;
        let definer = holding(&[(&env.path, &["roles.manage", "members.read"])]);
        assert_eq!(
            definer.may_define(Content, &set(&["members.read"]), &a.path),
            Ok(())
        );
        assert_eq!(definer.may_define(Content, &set(&[]), &a.path), Ok(()));
        assert_eq!(
            definer.may_define(Content, &set(&["members.read"]), &env.path),
            Ok(()),
            "on the organization of the grant itself"
        );
    }

    #[test]
    fn an_administrator_role_needs_admins_manage_on_the_organization() {
        let (env, a, b) = tree();
        use crate::roles::RoleKind::Admin;
        let without = holding(&[(&env.path, &["roles.manage", "members.read"])]);
        assert_eq!(
            without.may_define(Admin, &set(&["members.read"]), &a.path),
            Err(FORBIDDEN_ADMINS)
        );
        assert_eq!(
            without.may_define(Admin, &set(&[]), &a.path),
            Err(FORBIDDEN_ADMINS),
            "the kind alone asks for it"
        );
        assert_eq!(
            without.may_define(Admin, &set(&["members.invite"]), &a.path),
            Err(FORBIDDEN_ADMINS),
            "admins.manage is asked for before the permissions"
        );
        let with = holding(&[(
            &env.path,
            &["roles.manage", "admins.manage", "members.read"],
        )]);
        assert_eq!(
            with.may_define(Admin, &set(&["members.read"]), &a.path),
            Ok(())
        );
        let beside = holding(&[
            (&env.path, &["roles.manage", "members.read"]),
            (&b.path, &["admins.manage"]),
        ]);
        assert_eq!(
            beside.may_define(Admin, &set(&["members.read"]), &a.path),
            Err(FORBIDDEN_ADMINS),
            "admins.manage on a sibling does not count"
        );
        assert_eq!(
            beside.may_define(Admin, &set(&[]), &b.path),
            Ok(()),
            "but does on that sibling"
        );
    }

    #[test]
    fn a_role_may_not_carry_a_portier_permission_its_definer_lacks_there() {
        let (env, a, _) = tree();
        use crate::roles::RoleKind::{Admin, Content};
        let definer = holding(&[(
            &env.path,
            &["roles.manage", "admins.manage", "members.read"],
        )]);
        not_held(
            definer.may_define(Content, &set(&["members.read", "members.invite"]), &a.path),
            "members.invite",
        );
        not_held(
            definer.may_define(Admin, &set(&["tokens.manage"]), &a.path),
            "tokens.manage",
        );
        let below = holding(&[
            (&env.path, &["roles.manage"]),
            (&a.path, &["members.invite"]),
        ]);
        assert_eq!(
            below.may_define(Content, &set(&["members.invite"]), &a.path),
            Ok(())
        );
        not_held(
            below.may_define(Content, &set(&["members.invite"]), &env.path),
            "members.invite",
        );
    }

    /// The product's own permissions are the organization's to give meaning
    /// to (docs/RULES.md#roles-and-permissions): nobody has to hold them.
    #[test]
    fn a_role_may_carry_product_permissions_its_definer_does_not_hold() {
        let (env, a, _) = tree();
        use crate::roles::RoleKind::{Admin, Content};
        let definer = holding(&[(&env.path, &["roles.manage", "admins.manage"])]);
        assert_eq!(
            definer.may_define(
                Content,
                &set(&["documents.read", "documents.send"]),
                &a.path
            ),
            Ok(())
        );
        assert_eq!(
            definer.may_define(Admin, &set(&["admins.manage", "mailbox.use"]), &a.path),
            Ok(())
        );
        not_held(
            definer.may_define(Admin, &set(&["documents.read", "org.update"]), &a.path),
            "org.update",
        );
    }

    #[test]
    fn a_grant_holds_on_its_organization_and_below_never_above_or_beside() {
        let (env, a, b) = tree();
        let team = a.path.child(OrganizationId::new()).unwrap();
        let caller = holding(&[(&a.path, &["members.read"])]);
        assert!(caller.holds(&p::MEMBERS_READ, &a.path));
        assert!(caller.holds(&p::MEMBERS_READ, &team));
        assert!(!caller.holds(&p::MEMBERS_READ, &env.path));
        assert!(!caller.holds(&p::MEMBERS_READ, &b.path));
        assert!(
            !caller.holds(&p::MEMBERS_INVITE, &a.path),
            "another permission"
        );
        assert!(caller.sees(&a.path) && caller.sees(&team));
        assert!(!caller.sees(&env.path) && !caller.sees(&b.path));
        let nobody = holding(&[]);
        assert!(!nobody.sees(&a.path));
        assert!(!nobody.holds(&p::MEMBERS_READ, &a.path));
    }

    #[test]
    fn the_permissions_on_an_organization_gather_every_grant_above_it() {
        let (env, a, b) = tree();
        let team = a.path.child(OrganizationId::new()).unwrap();
        let caller = holding(&[
            (&env.path, &["members.read"]),
            (&a.path, &["members.invite", "documents.read"]),
            (&team, &["tokens.manage"]),
            (&b.path, &["audit.read"]),
        ]);
        assert_eq!(caller.permissions_on(&env.path), set(&["members.read"]));
        assert_eq!(
            caller.permissions_on(&a.path),
            set(&["members.read", "members.invite", "documents.read"])
        );
        assert_eq!(
            caller.permissions_on(&team),
            set(&[
                "members.read",
                "members.invite",
                "documents.read",
                "tokens.manage"
            ])
        );
        assert_eq!(
            caller.permissions_on(&b.path),
            set(&["members.read", "audit.read"])
        );
    }

    #[test]
    fn a_content_role_other_than_member_needs_roles_assign() {
        let (env, a, _) = tree();
        let roles = crate::roles::builtins();
        let mut nurse = roles
            .iter()
            .find(|r| r.key.as_str() == "member")
            .unwrap()
            .clone();
        nurse.key = crate::roles::RoleKey::parse("key", "nurse").unwrap();
        nurse.permissions = set(&["documents.read"]);
        let administrator = roles
            .iter()
            .find(|r| r.key.as_str() == "administrator")
            .unwrap()
            .clone();
        let admins_only = holding(&[(&env.path, &["admins.manage"])]);
        assert_eq!(
            admins_only.may_grant(std::slice::from_ref(&nurse), &a.path),
            Err(Error::Forbidden {
                permission: p::ROLES_ASSIGN
            })
        );
        assert_eq!(
            admins_only.may_grant(std::slice::from_ref(&administrator), &a.path),
            Err(Error::Forbidden {
                permission: p::ROLES_ASSIGN
            }),
            "an administrator role is not member either"
        );
        let assigner = holding(&[(&env.path, &["roles.assign"])]);
        assert_eq!(
            assigner.may_grant(std::slice::from_ref(&nurse), &a.path),
            Ok(())
        );
        assert_eq!(
            assigner.may_grant(&[nurse.clone(), administrator.clone()], &a.path),
            Err(FORBIDDEN_ADMINS)
        );
        assert_eq!(
            holding(&[]).may_grant(&[], &a.path),
            Ok(()),
            "nothing granted"
        );
        let both = holding(&[(&env.path, &["roles.assign", "admins.manage"])]);
        assert_eq!(both.may_grant(&[nurse, administrator], &a.path), Ok(()));
    }

    #[test]
    fn the_proof_carries_everything_the_caller_holds() {
        let (env, a, b) = tree();
        let caller = holding(&[(&env.path, &["members.update"]), (&b.path, &["audit.read"])]);
        let proof = caller.authorize::<MembersUpdate>(&a).unwrap();
        assert_eq!(proof.principal(), &caller);
        assert_eq!(proof.organization_id(), a.id);
    }

    fn seat(org: &OrgPath, administrator: bool) -> Seat {
        Seat {
            path: org.clone(),
            administrator,
        }
    }

    /// docs/RULES.md#administrators: someone who holds an administrator
    /// role on the organization, above it or below it.
    #[test]
    fn acting_on_an_administrator_here_above_or_below_needs_admins_manage() {
        let (env, a, _) = tree();
        let team = a.path.child(OrganizationId::new()).unwrap();
        let updater = holding(&[(&env.path, &["members.update"])]);
        let proof = updater.authorize::<MembersUpdate>(&a).unwrap();
        for (admin_seat, where_) in [(&a.path, "here"), (&env.path, "above"), (&team, "below")] {
            assert_eq!(
                proof.over_member(&[seat(admin_seat, true)]),
                Err(FORBIDDEN_ADMINS),
                "{where_}"
            );
        }
        assert_eq!(
            proof.over_member(&[seat(&a.path, false), seat(&team, true)]),
            Err(FORBIDDEN_ADMINS),
            "any one of the seats"
        );
        let admin = holding(&[(&env.path, &["members.update", "admins.manage"])]);
        let proof = admin.authorize::<MembersUpdate>(&a).unwrap();
        for admin_seat in [&a.path, &env.path, &team] {
            assert_eq!(proof.over_member(&[seat(admin_seat, true)]), Ok(()));
        }
    }

    #[test]
    fn acting_on_a_member_who_administers_nothing_here_needs_no_admins_manage() {
        let (env, a, b) = tree();
        let updater = holding(&[(&env.path, &["members.update"])]);
        let proof = updater.authorize::<MembersUpdate>(&a).unwrap();
        assert_eq!(proof.over_member(&[]), Ok(()));
        assert_eq!(proof.over_member(&[seat(&a.path, false)]), Ok(()));
        assert_eq!(
            proof.over_member(&[seat(&a.path, false), seat(&env.path, false)]),
            Ok(())
        );
        assert_eq!(
            proof.over_member(&[seat(&a.path, false), seat(&b.path, true)]),
            Ok(()),
            "an administrator of a sibling only"
        );
    }

    /// docs/RULES.md#shared-accounts: the caller must hold the right in
    /// every organization the person belongs to.
    #[test]
    fn changing_an_account_needs_the_right_wherever_the_person_is_a_member() {
        let (_, a, b) = tree();
        let here_only = holding(&[(&a.path, &["members.update", "admins.manage"])]);
        let proof = here_only.authorize::<MembersUpdate>(&a).unwrap();
        assert_eq!(proof.over_account(&[seat(&a.path, false)]), Ok(()));
        assert_eq!(proof.over_account(&[]), Ok(()));
        assert_eq!(
            proof.over_account(&[seat(&a.path, false), seat(&b.path, false)]),
            Err(Error::MemberElsewhere)
        );
        assert_eq!(
            proof.over_account(&[seat(&b.path, true), seat(&a.path, true)]),
            Err(Error::MemberElsewhere),
            "the missing right is named before admins.manage"
        );
        let other_right = holding(&[
            (&a.path, &["members.update"]),
            (&b.path, &["members.read", "admins.manage"]),
        ]);
        let proof = other_right.authorize::<MembersUpdate>(&a).unwrap();
        assert_eq!(
            proof.over_account(&[seat(&a.path, false), seat(&b.path, false)]),
            Err(Error::MemberElsewhere),
            "the proof's own right, not any right"
        );
    }

    #[test]
    fn changing_an_administrators_account_needs_admins_manage_where_they_administer() {
        let (env, a, b) = tree();
        let team = a.path.child(OrganizationId::new()).unwrap();
        let caller = holding(&[
            (&env.path, &["members.update"]),
            (&a.path, &["admins.manage"]),
        ]);
        let proof = caller.authorize::<MembersUpdate>(&a).unwrap();
        assert_eq!(
            proof.over_account(&[seat(&a.path, false), seat(&b.path, true)]),
            Err(FORBIDDEN_ADMINS),
            "an administrator of a sibling, where the caller lacks admins.manage"
        );
        assert_eq!(
            proof.over_account(&[seat(&a.path, true), seat(&b.path, false)]),
            Ok(())
        );
        assert_eq!(
            proof.over_account(&[seat(&a.path, false), seat(&b.path, false)]),
            Ok(()),
            "nobody's administrator: admins.manage is not needed on b"
        );
        // admins.manage only on the team: enough for the team, not for
        // acting from `a` on someone who administers below it.
        let team_admin = holding(&[
            (&env.path, &["members.update"]),
            (&team, &["admins.manage"]),
        ]);
        let proof = team_admin.authorize::<MembersUpdate>(&a).unwrap();
        assert_eq!(
            proof.over_account(&[seat(&team, true)]),
            Err(FORBIDDEN_ADMINS)
        );
    }

    #[test]
    fn a_relation_on_a_resource_holds_where_it_is_registered_and_below() {
        let env = OrgPath::root(OrganizationId::new());
        let ward = env.child(OrganizationId::new()).unwrap();
        let team = ward.child(OrganizationId::new()).unwrap();
        let other = env.child(OrganizationId::new()).unwrap();
        let rights = CompiledRights {
            grants: vec![],
            relations: vec![Relation {
                path: ward.clone(),
                resource_type: "mailbox".into(),
                resource_key: "sales".into(),
                relation: "use".into(),
            }],
        };
        let ask = |permission, path, resource| {
            rights.allows(Question {
                permission,
                path,
                resource,
            })
        };
        let sales = Some(("mailbox", "sales"));
        assert!(ask("mailbox.use", &ward, sales));
        assert!(ask("mailbox.use", &team, sales), "below");
        assert!(!ask("mailbox.use", &env, sales), "above");
        assert!(!ask("mailbox.use", &other, sales), "beside");
        assert!(!ask("mailbox.use", &ward, None), "without naming it");
        assert!(!ask("mailbox.manage", &ward, sales), "another relation");
        assert!(
            !ask("mailboxes.use", &ward, sales),
            "the type is the permission's whole first part"
        );
        assert!(!ask("mailbox", &ward, sales), "no relation named");
        assert!(!ask("mailbox..use", &ward, sales), "one dot, not two");
        assert!(
            !ask("archive.use", &ward, Some(("archive", "sales"))),
            "a resource of another type with the same key"
        );
        assert!(CompiledRights::default().grants.is_empty());
        assert!(
            !CompiledRights::default().allows(Question {
                permission: "mailbox.use",
                path: &ward,
                resource: sales,
            }),
            "nothing held"
        );
    }
}

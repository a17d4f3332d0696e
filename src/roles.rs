//! The five Praxia roles, as the `profile.role` CHECK constraint lists them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    OrganizationAdmin,
    Manager,
    Coach,
    Teacher,
}

impl Role {
    pub const ALL: [Role; 5] =
        [Role::PlatformAdmin, Role::OrganizationAdmin, Role::Manager, Role::Coach, Role::Teacher];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::OrganizationAdmin => "organization_admin",
            Role::Manager => "manager",
            Role::Coach => "coach",
            Role::Teacher => "teacher",
        }
    }

    /// Every role but platform_admin is held within an organization
    /// (`organization_user.role`); platform_admin is platform-wide.
    pub fn is_organization_role(self) -> bool {
        self != Role::PlatformAdmin
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

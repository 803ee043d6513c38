//! The one way the rule enums of repair and check are declared: a variant each, with the stable
//! kebab-case name that reports, JSON and metric labels carry, the list of them all, and the
//! conversions to and from the name.

/// Declares `pub enum Rule` from `Variant => "name";` lines (each with its doc comment), with
/// `Rule::ALL` in declaration order, `name()`, `from_name()`, `Display` and `Serialize` as the
/// name. Derives beyond `Debug, Clone, Copy, PartialEq, Eq, Hash` come in as attributes.
macro_rules! rule_enum {
    (
        $(#[$meta:meta])*
        pub enum Rule {
            $($(#[$doc:meta])* $variant:ident => $name:literal;)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rule {
            $($(#[$doc])* $variant,)*
        }

        impl Rule {
            /// Every rule, in declaration order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// The stable kebab-case name used in reports, JSON and metric labels.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => $name,)*
                }
            }

            /// The rule of that name, if there is one.
            pub fn from_name(name: &str) -> Option<Rule> {
                Rule::ALL.iter().copied().find(|r| r.name() == name)
            }
        }

        impl std::fmt::Display for Rule {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for Rule {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }
    };
}

pub(crate) use rule_enum;

//! Companies and SMEs: the identity and size of an enterprise.

use super::{BusinessNumber, CorporateNumber, DisplayName, KsicCode, Won};

/// Declares a closed set of values with the stable text each is stored as.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database, e.g. in reports and dumps.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn from_stored(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use stored_enum;

/// The values of [`EnterpriseSize`] and the text each is stored as, handed to
/// `$then`: here the domain type, in `store` its column type, so the
/// list is written once.
macro_rules! enterprise_sizes {
    ($then:ident) => {
        $then!(
            /// Legal size class of an enterprise.
            EnterpriseSize {
                Large => "LARGE",
                MiddleStanding => "MIDDLE_STANDING",
                Medium => "MEDIUM",
                Small => "SMALL",
                Micro => "MICRO",
            }
        );
    };
}
pub(crate) use enterprise_sizes;
enterprise_sizes!(stored_enum);

impl EnterpriseSize {
    /// The prefix of the proto's names of these values.
    pub const PROTO_PREFIX: &'static str = "ENTERPRISE_SIZE_";
}

/// The values of [`Region`] and the text each is stored as, handed to
/// `$then`: here the domain type, in `store` its column type, so the
/// list is written once.
macro_rules! regions {
    ($then:ident) => {
        $then!(
            /// First-tier administrative division.
            Region {
                Seoul => "SEOUL",
                Busan => "BUSAN",
                Daegu => "DAEGU",
                Incheon => "INCHEON",
                Gwangju => "GWANGJU",
                Daejeon => "DAEJEON",
                Ulsan => "ULSAN",
                Sejong => "SEJONG",
                Gyeonggi => "GYEONGGI",
                Gangwon => "GANGWON",
                Chungbuk => "CHUNGBUK",
                Chungnam => "CHUNGNAM",
                Jeonbuk => "JEONBUK",
                Jeonnam => "JEONNAM",
                Gyeongbuk => "GYEONGBUK",
                Gyeongnam => "GYEONGNAM",
                Jeju => "JEJU",
            }
        );
    };
}
pub(crate) use regions;
regions!(stored_enum);

impl Region {
    /// The prefix of the proto's names of these values.
    pub const PROTO_PREFIX: &'static str = "REGION_";
}

/// Which kind of enterprise a record is: it decides the allowed size classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnterpriseClass {
    /// A large or middle-standing company.
    Company,
    /// A small or medium enterprise.
    Sme,
}

impl EnterpriseClass {
    pub fn allowed_sizes(self) -> &'static [EnterpriseSize] {
        match self {
            Self::Company => &[EnterpriseSize::Large, EnterpriseSize::MiddleStanding],
            Self::Sme => &[
                EnterpriseSize::Medium,
                EnterpriseSize::Small,
                EnterpriseSize::Micro,
            ],
        }
    }

    /// Checks that `size` is allowed for this class.
    pub fn parse_size(self, size: Option<EnterpriseSize>) -> Result<EnterpriseSize, String> {
        let allowed = self.allowed_sizes();
        let names: Vec<String> = allowed
            .iter()
            .map(|s| format!("{}{}", EnterpriseSize::PROTO_PREFIX, s.as_str()))
            .collect();
        match size {
            Some(s) if allowed.contains(&s) => Ok(s),
            Some(s) => Err(format!(
                "{}{} is not allowed here; use one of {}",
                EnterpriseSize::PROTO_PREFIX,
                s.as_str(),
                names.join(", ")
            )),
            None => Err(format!("is required; use one of {}", names.join(", "))),
        }
    }
}

/// A valid company or SME record, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    pub display_name: DisplayName,
    pub business_number: Option<BusinessNumber>,
    pub corporate_number: Option<CorporateNumber>,
    pub size: EnterpriseSize,
    /// The KSIC code and the revision it belongs to.
    pub ksic: Option<(KsicCode, i32)>,
    pub region: Option<Region>,
    pub employee_count: Option<i32>,
    pub annual_revenue_krw: Option<Won>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_disjoint() {
        let company = EnterpriseClass::Company;
        let sme = EnterpriseClass::Sme;
        assert!(company.parse_size(Some(EnterpriseSize::Large)).is_ok());
        assert!(company.parse_size(Some(EnterpriseSize::Small)).is_err());
        assert!(sme.parse_size(Some(EnterpriseSize::Micro)).is_ok());
        assert!(
            sme.parse_size(Some(EnterpriseSize::MiddleStanding))
                .is_err()
        );
        assert!(sme.parse_size(None).is_err());
        for s in EnterpriseSize::ALL {
            assert_eq!(EnterpriseSize::from_stored(s.as_str()), Some(*s));
        }
    }
}

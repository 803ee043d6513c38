//! MAC addresses: the one parser every command, the daemon's configuration and its API use.

/// Why a MAC address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?} (expected six hex bytes such as 02:00:00:00:00:01)")]
pub struct MacError(pub String);

/// Parses a MAC address: six groups of one or two hex digits separated by `:` or `-`
/// (`02:00:00:00:00:01`, `2:0:0:0:0:1`, `02-00-00-00-00-01`).
pub fn parse_mac(s: &str) -> Result<[u8; 6], MacError> {
    let err = || MacError(s.to_string());
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split([':', '-']);
    for b in &mut mac {
        let p = parts.next().ok_or_else(err)?;
        if p.is_empty() || p.len() > 2 {
            return Err(err());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| err())?;
    }
    if parts.next().is_some() {
        return Err(err());
    }
    Ok(mac)
}

/// Writes a MAC address as `02:00:00:00:00:01`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms_parse_alike() {
        for s in ["02:00:0a:0B:00:ff", "2:0:a:b:0:ff", "02-00-0a-0b-00-ff"] {
            assert_eq!(parse_mac(s), Ok([2, 0, 10, 11, 0, 255]), "{s}");
        }
        assert_eq!(format_mac(&[2, 0, 10, 11, 0, 255]), "02:00:0a:0b:00:ff");
        for bad in [
            "02:00:0a:0B:00",
            "02:00:0a:0B:00:fg",
            "02:00:0a:0B:00:ff:01",
            "",
            "020:0:0:0:0:1",
        ] {
            let e = parse_mac(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}

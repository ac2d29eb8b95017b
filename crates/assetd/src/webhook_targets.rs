//! Which addresses a webhook may be delivered to (SSRF protection): a pure policy over IP
//! addresses, applied to every address a target's host resolves to, when the webhook is created
//! and again before every delivery (DNS answers change).
//!
//! Refused unless an operator opens them (`--webhook-allow CIDR,…`): loopback, private
//! (RFC 1918), link-local (169.254/16, which holds the cloud metadata service 169.254.169.254;
//! fe80::/10), unique-local (fc00::/7, which holds AWS's fd00:ec2::254), shared CGNAT space
//! (100.64/10), unspecified, broadcast and reserved (0/8, 240/4), multicast, IETF protocol and
//! documentation ranges, and the deprecated IPv6 site-local range. IPv4-mapped and NAT64
//! IPv6 addresses are judged by the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The ranges webhooks may target although the default policy refuses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

/// A `--webhook-allow` entry that is not a CIDR (`127.0.0.0/8`) or an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--webhook-allow: {0:?} is not a CIDR range such as 127.0.0.0/8")]
pub struct BadRange(pub String);

impl AddressPolicy {
    /// The default policy opened for `allow` (CIDR ranges, or single addresses).
    pub fn new(allow: &[String]) -> Result<Self, BadRange> {
        let allow = allow
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| BadRange(s.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    /// Whether a webhook may be delivered to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow.iter().any(|net| net.contains(&ip)) || refusal(ip).is_none()
    }

    /// Why `ip` is refused, or `None` if it is permitted.
    pub fn why_refused(&self, ip: IpAddr) -> Option<&'static str> {
        if self.permits(ip) {
            None
        } else {
            refusal(canonical(ip))
        }
    }
}

/// The IPv4 address an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address
/// carries, else `ip` itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// The default policy's reason to refuse `ip` (already canonical).
fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        // 169.254.169.254 is the cloud metadata service.
        _ if ip.is_link_local() => "link-local",
        (100, 64..=127, _) => "shared (CGNAT)",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_broadcast() || a >= 240 => "reserved",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        _ => return None,
    })
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_multicast() => "multicast",
        // fd00:ec2::254 is AWS's metadata service.
        _ if first & 0xfe00 == 0xfc00 => "unique-local",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if first & 0xffc0 == 0xfec0 => "site-local",
        0x2001 if ip.segments()[1] == 0x0db8 => "documentation",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn refuses_internal_ranges_by_default() {
        let policy = AddressPolicy::default();
        for internal in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "fec0::1",
        ] {
            assert!(!policy.permits(ip(internal)), "{internal} permitted");
            assert!(policy.why_refused(ip(internal)).is_some(), "{internal}");
        }
    }

    #[test]
    fn permits_public_addresses() {
        let policy = AddressPolicy::default();
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(policy.permits(ip(public)), "{public} refused");
        }
    }

    #[test]
    fn allow_opens_exactly_its_ranges() {
        let policy = AddressPolicy::new(&["127.0.0.0/8".to_owned(), " fd00:ec2::254 ".to_owned()])
            .expect("valid");
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.2")));
        assert!(policy.permits(ip("fd00:ec2::254")));
        assert!(!policy.permits(ip("fd00:ec2::253")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("::1")));
        // A host address with a prefix length is read as its network.
        let policy = AddressPolicy::new(&["10.1.2.3/16".to_owned()]).expect("valid");
        assert!(policy.permits(ip("10.1.200.1")));
    }

    #[test]
    fn rejects_malformed_ranges() {
        for bad in ["127.0.0.0/33", "localhost", "10.0.0.0/", "fe80::/129"] {
            assert_eq!(
                AddressPolicy::new(&[bad.to_owned()]),
                Err(BadRange(bad.to_owned()))
            );
        }
    }
}

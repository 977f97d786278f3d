//! Blocks of addresses (CIDR, RFC 4632 §3.1): what `TRUSTED_PROXIES` lists.
//!
//! A block is an address and a prefix length: `10.0.0.0/8` holds every address whose first 8 bits
//! are those of `10.0.0.0`; an address without a prefix (`127.0.0.1`) is a block of one. An IPv4
//! address written inside IPv6 (`::ffff:10.9.9.9`, as a dual-stack socket reports it) is compared
//! as the IPv4 address it is.

use std::net::IpAddr;

/// A block of addresses, such as `10.0.0.0/8` or a single `127.0.0.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True when `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            let keep = u32::from(width.saturating_sub(prefix));
            if keep >= 128 { 0 } else { bits >> keep }
        }
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), self.prefix, 128) == masked(ip.into(), self.prefix, 128)
            }
            _ => false,
        }
    }

    /// True when `ip` is inside any of `blocks` (such as `TRUSTED_PROXIES`).
    pub fn any_contains(blocks: &[Cidr], ip: IpAddr) -> bool {
        blocks.iter().any(|block| block.contains(ip))
    }

    /// Reads `address` or `address/prefix`; `None` when it is neither, or the prefix is longer
    /// than the address.
    pub fn parse(v: &str) -> Option<Cidr> {
        let (ip, prefix) = v.split_once('/').unwrap_or((v, ""));
        let net: IpAddr = ip.trim().parse().ok()?;
        let width = if net.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() { width } else { prefix.trim().parse().ok()? };
        (prefix <= width).then_some(Cidr { net, prefix })
    }
}

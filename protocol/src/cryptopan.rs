//! Crypto-PAn prefix-preserving anonymisation of IPv4 and IPv6 addresses (Xu, Fan, Ammar, Moon 2002).

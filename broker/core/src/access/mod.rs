//! Who may use the gateway and what they spend: virtual keys ([`keys`]), counters shared by
//! every process of a cluster ([`counter`]), budget periods ([`period`]) and token prices
//! ([`pricing`]). The ingress admits and scopes requests with them; workers settle what a
//! finished job cost.

pub mod counter;
pub mod keys;
pub mod period;
pub mod pricing;
pub mod secrets;

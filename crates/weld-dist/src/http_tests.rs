//! Unit tests of the HTTPS download path against loopback servers.

use super::*;

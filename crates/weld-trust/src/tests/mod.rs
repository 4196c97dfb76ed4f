//! Unit tests of weld-trust, by concern: keys and formats signed with keys
//! (`keyed`), identity signatures against a private Sigstore (`keyless`,
//! built by `pki`), interop with the openssl command line (`openssl`), and
//! properties over arbitrary and mutated input (`props`).

mod keyed;
mod keyless;
mod openssl;
mod pki;
mod props;

pub(crate) const DIGEST: &str =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub(crate) const OTHER_DIGEST: &str =
    "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

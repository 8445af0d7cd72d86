//! Pre-Authentication Keys: their text format, issuing, hashing and verification.
//!
//! A PAK reads `brk_<tag>_<key-id>_<secret><checksum>`:
//!
//! - `tag` is `adm`, `gen` or `agt`, the kind of principal it belongs to;
//! - `key-id` is public and random, and names the credential row;
//! - `secret` is 43 base62 characters (256 bits) from the operating system's generator;
//! - `checksum` is the CRC32 of everything before it, as 6 base62 characters.
//!
//! The checksum lets a mistyped or truncated PAK be refused by its text alone, before any
//! store query or hash. Only the argon2id hash of the secret is ever stored.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::principal::PrincipalKind;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX: &str = "brk";
const KEY_ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// No well-formed PAK is longer than this; longer input is refused unread.
pub const MAX_PAK_LEN: usize =
    PREFIX.len() + 1 + 3 + 1 + KEY_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

/// Why a text is not a PAK. Shown to operators, never to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedPak {
    /// The text does not have the `brk_<tag>_<key-id>_<secret><checksum>` shape.
    #[error("credential does not have the shape of a pak")]
    Shape,
    /// The tag is not one of `adm`, `gen`, `agt`.
    #[error("credential names an unknown principal kind")]
    UnknownKind,
    /// The checksum does not match: a typo or a truncation.
    #[error("credential checksum does not match")]
    Checksum,
}

/// A PAK in plain text, as handed to its holder exactly once.
///
/// Its `Debug` shows only the public part; it has no `Display`, so it cannot be
/// formatted into a message by accident.
#[derive(Clone)]
pub struct Pak(String);

impl PartialEq for Pak {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Pak {}

impl Pak {
    /// The plain text, for the one response that hands it over.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The public key id inside this PAK.
    pub fn key_id(&self) -> KeyId {
        match parse(&self.0) {
            Ok(parsed) => parsed.key_id,
            // INVARIANT: a `Pak` is only built by `issue`, which always parses.
            Err(_) => KeyId(String::new()),
        }
    }
}

impl fmt::Debug for Pak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pak({})", self.key_id().as_str())
    }
}

/// The public identifier of a credential: safe to log and to index by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The key id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a key id read back from storage.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A presented credential whose shape and checksum are good; its secret is not yet checked.
#[derive(Clone)]
pub struct ParsedPak<'a> {
    /// The kind the PAK claims to belong to.
    pub kind: PrincipalKind,
    /// The credential row it names.
    pub key_id: KeyId,
    secret: &'a str,
}

impl fmt::Debug for ParsedPak<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedPak")
            .field("kind", &self.kind)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// An argon2id PHC string: what the store keeps instead of the secret.
#[derive(Clone)]
pub struct PakHash(String);

impl PartialEq for PakHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for PakHash {}

impl PakHash {
    /// The PHC string, for the store to write.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Wraps a PHC string read back from storage.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }
}

impl fmt::Debug for PakHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PakHash(..)")
    }
}

/// Cost parameters of the argon2id hash of new PAKs.
///
/// Verification reads the parameters from each stored hash, so changing these affects
/// only PAKs issued afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's minimum recommendation for argon2id: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: HashParams = HashParams {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// The cheapest parameters argon2 accepts; for tests only, never for real keys.
    pub const INSECURE_FOR_TESTS: HashParams = HashParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher(&self) -> Result<Argon2<'static>, PakError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|_| PakError::InvalidParams(*self))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Checks that argon2 accepts these parameters.
    ///
    /// # Errors
    ///
    /// [`PakError::InvalidParams`] when argon2 refuses them.
    pub fn validate(&self) -> Result<(), PakError> {
        self.hasher().map(|_| ())
    }
}

impl Default for HashParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Failures while issuing a PAK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PakError {
    /// argon2 refused the configured cost parameters.
    #[error(
        "argon2 refuses memory {}KiB, {} passes, {} lanes",
        .0.memory_kib,
        .0.iterations,
        .0.parallelism
    )]
    InvalidParams(HashParams),
    /// Hashing failed inside argon2.
    #[error("hashing a new pak failed")]
    Hashing,
}

/// A freshly issued PAK with what the store keeps of it.
#[derive(Debug)]
pub struct IssuedPak {
    /// The plain text, for the caller, once.
    pub pak: Pak,
    /// The public key id, for the store.
    pub key_id: KeyId,
    /// The argon2id hash of the secret, for the store.
    pub hash: PakHash,
}

/// Issues a new PAK for a principal of `kind`, hashed with `params`.
///
/// # Errors
///
/// [`PakError`] when argon2 refuses the parameters or fails.
pub fn issue(kind: PrincipalKind, params: HashParams) -> Result<IssuedPak, PakError> {
    let key_id = random_base62(KEY_ID_LEN);
    let secret = random_base62(SECRET_LEN);

    let body = format!("{PREFIX}_{}_{key_id}_{secret}", kind.pak_tag());
    let text = format!("{body}{}", checksum(body.as_bytes()));

    let salt = SaltString::generate(&mut OsRng);
    let hash = params
        .hasher()?
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|_| PakError::Hashing)?
        .to_string();

    Ok(IssuedPak {
        pak: Pak(text),
        key_id: KeyId(key_id),
        hash: PakHash(hash),
    })
}

/// Reads a presented credential's shape and checksum, without touching any store.
///
/// # Errors
///
/// [`MalformedPak`] says which check failed, for the operator's log.
pub fn parse(text: &str) -> Result<ParsedPak<'_>, MalformedPak> {
    if text.len() > MAX_PAK_LEN || !text.is_ascii() {
        return Err(MalformedPak::Shape);
    }

    let mut parts = text.split('_');
    let (Some(PREFIX), Some(tag), Some(key_id), Some(tail), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(MalformedPak::Shape);
    };
    if key_id.len() != KEY_ID_LEN
        || tail.len() != SECRET_LEN + CHECKSUM_LEN
        || !is_base62(key_id)
        || !is_base62(tail)
    {
        return Err(MalformedPak::Shape);
    }
    let kind = PrincipalKind::from_pak_tag(tag).ok_or(MalformedPak::UnknownKind)?;

    let (secret, given) = tail.split_at(SECRET_LEN);
    let body = &text[..text.len() - CHECKSUM_LEN];
    let expected = checksum(body.as_bytes());
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(MalformedPak::Checksum);
    }

    Ok(ParsedPak {
        kind,
        key_id: KeyId(key_id.to_owned()),
        secret,
    })
}

/// Whether `parsed`'s secret is the one `hash` was made from. Costly: argon2 runs here.
///
/// argon2's own comparison of the digests is constant-time.
pub fn verify(parsed: &ParsedPak<'_>, hash: &PakHash) -> bool {
    let Ok(phc) = PasswordHash::new(hash.as_phc()) else {
        return false;
    };
    Argon2::default()
        .verify_password(parsed.secret.as_bytes(), &phc)
        .is_ok()
}

/// A fast digest of a whole presented credential, the key of the verification cache.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn checksum(body: &[u8]) -> String {
    let mut value = u64::from(crc32fast::hash(body));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    // INVARIANT: 62^6 > 2^32, so six digits hold every CRC32 and `value` is now zero.
    out.iter().map(|&b| char::from(b)).collect()
}

fn is_base62(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        OsRng.fill_bytes(&mut buf);
        // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
        for &byte in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(byte % 62)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(kind: PrincipalKind) -> IssuedPak {
        issue(kind, HashParams::INSECURE_FOR_TESTS).expect("cheap params are valid")
    }

    #[test]
    fn issued_pak_has_the_documented_shape() {
        let issued = issued(PrincipalKind::Generator);
        let text = issued.pak.expose_secret();

        assert!(text.starts_with("brk_gen_"), "{text}");
        assert_eq!(text.len(), MAX_PAK_LEN);
        assert_eq!(issued.pak.key_id(), issued.key_id);
        assert!(issued.hash.as_phc().starts_with("$argon2id$"));
    }

    #[test]
    fn issued_pak_parses_and_verifies() {
        let issued = issued(PrincipalKind::Agent);
        let parsed = parse(issued.pak.expose_secret()).expect("issued paks parse");

        assert_eq!(parsed.kind, PrincipalKind::Agent);
        assert_eq!(parsed.key_id, issued.key_id);
        assert!(verify(&parsed, &issued.hash));
    }

    #[test]
    fn another_paks_hash_does_not_verify() {
        let first = issued(PrincipalKind::Generator);
        let second = issued(PrincipalKind::Generator);
        let parsed = parse(first.pak.expose_secret()).expect("issued paks parse");

        assert!(!verify(&parsed, &second.hash));
    }

    #[test]
    fn secret_carries_at_least_256_bits() {
        let bits = SECRET_LEN as f64 * 62f64.log2();
        assert!(bits >= 256.0, "{bits}");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let issued = issued(PrincipalKind::Admin);
        let text = issued.pak.expose_secret().to_owned();
        let secret = &text[text.len() - SECRET_LEN - CHECKSUM_LEN..];
        let parsed = parse(&text).expect("issued paks parse");

        for shown in [
            format!("{:?}", issued.pak),
            format!("{issued:?}"),
            format!("{parsed:?}"),
            format!("{:?}", issued.hash),
        ] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains("$argon2id$"), "{shown}");
        }
    }

    #[test]
    fn malformed_text_is_refused_by_its_shape() {
        let good = issued(PrincipalKind::Generator)
            .pak
            .expose_secret()
            .to_owned();
        let cases: &[(&str, MalformedPak)] = &[
            // wrong prefix or kind tag
            (&good.replacen("brk_", "brx_", 1), MalformedPak::Shape),
            (
                &good.replacen("_gen_", "_usr_", 1),
                MalformedPak::UnknownKind,
            ),
            // truncated or padded
            (&good[..good.len() - 1], MalformedPak::Shape),
            (&format!("{good}0"), MalformedPak::Shape),
            ("", MalformedPak::Shape),
            // foreign characters
            (&good.replacen('_', "-", 1), MalformedPak::Shape),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).map(|_| ()), Err(*expected), "{text}");
        }
    }

    #[test]
    fn changed_tag_fails_the_checksum() {
        let good = issued(PrincipalKind::Generator)
            .pak
            .expose_secret()
            .to_owned();
        let retagged = good.replacen("_gen_", "_agt_", 1);

        assert_eq!(parse(&retagged).map(|_| ()), Err(MalformedPak::Checksum));
    }
}

//! Laws of the PAK text format: what `issue` makes, `parse` and `verify` accept, and a
//! malformed PAK never reaching the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use brokkr_core::pak::{self, IssuedPak, KeyId, MAX_PAK_LEN, MalformedPak};
use brokkr_core::store::{
    Credential, Listing, NewDeploymentObject, NewGenerator, NewStack, NewTemplate, Rename,
    StoreError, TemplateChange,
};
use brokkr_core::{
    AuthError, Broker, BrokerConfig, DeploymentObject, Generator, GeneratorSpec, HashParams,
    MemoryStore, Owner, PrincipalKind, Stack, Store, Template,
};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

/// Length of the secret part of a PAK, in base62 characters.
const SECRET_LEN: usize = 43;

fn issued(kind: PrincipalKind) -> IssuedPak {
    pak::issue(kind, HashParams::INSECURE_FOR_TESTS).expect("cheap params are valid")
}

/// The secret inside a PAK's text: what no `Debug` may show.
fn secret_of(text: &str) -> &str {
    let tail = text
        .rsplit('_')
        .next()
        .expect("split yields at least one part");
    &tail[..SECRET_LEN]
}

/// Whether `text` is accepted as the PAK that `issued` hashed.
fn parses_and_verifies(text: &str, issued: &IssuedPak) -> bool {
    pak::parse(text).is_ok_and(|parsed| pak::verify(&parsed, &issued.hash))
}

/// `text` with its character at `position` replaced by `replacement`.
fn substituted(text: &str, position: usize, replacement: char) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| if i == position { replacement } else { c })
        .collect()
}

fn arb_kind() -> impl Strategy<Value = PrincipalKind> {
    prop::sample::select(PrincipalKind::ALL.to_vec())
}

/// A replacement character: mostly one a PAK could hold, sometimes anything at all.
fn arb_replacement() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::ranges(vec!['0'..='9', 'A'..='Z', 'a'..='z'].into()),
        1 => Just('_'),
        1 => any::<char>(),
    ]
}

fn arb_wrong_prefix() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{0,6}".prop_filter("the real prefix", |prefix| prefix != "brk")
}

/// Texts that come close to a PAK's shape, so that `parse` runs past its first checks.
fn arb_near_pak() -> impl Strategy<Value = String> {
    "brk_(adm|gen|agt|[a-z]{3})_[0-9A-Za-z]{15,17}_[0-9A-Za-z]{48,50}"
}

/// The checksum as the module documents it: CRC32 of the body in six base62 digits.
fn documented_checksum(body: &str) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// Texts of the documented format with random parts, made without `issue`.
fn arb_well_formed() -> impl Strategy<Value = (PrincipalKind, String, String)> {
    (arb_kind(), "[0-9A-Za-z]{16}", "[0-9A-Za-z]{43}").prop_map(|(kind, key_id, secret)| {
        let body = format!("brk_{}_{key_id}_{secret}", kind.pak_tag());
        let text = format!("{body}{}", documented_checksum(&body));
        (kind, key_id, text)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn issued_pak_parses_and_verifies(kind in arb_kind()) {
        let issued = issued(kind);

        let parsed = pak::parse(issued.pak.expose_secret());
        let parsed = parsed.map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
        prop_assert_eq!(parsed.kind, kind);
        prop_assert_eq!(&parsed.key_id, &issued.key_id);
        prop_assert!(pak::verify(&parsed, &issued.hash));
    }

    #[test]
    fn substituted_pak_never_parses_and_verifies(
        kind in arb_kind(),
        position in any::<Index>(),
        replacement in arb_replacement(),
    ) {
        let issued = issued(kind);
        let text = issued.pak.expose_secret();
        let position = position.index(text.len());
        prop_assume!(text.chars().nth(position) != Some(replacement));

        let typo = substituted(text, position, replacement);
        prop_assert!(!parses_and_verifies(&typo, &issued), "accepted {position}: {replacement:?}");
    }

    /// The module's promise: a typo is caught by the text alone, before any hash.
    #[test]
    fn substituted_pak_never_parses(
        kind in arb_kind(),
        position in any::<Index>(),
        replacement in arb_replacement(),
    ) {
        let issued = issued(kind);
        let text = issued.pak.expose_secret();
        let position = position.index(text.len());
        prop_assume!(text.chars().nth(position) != Some(replacement));

        let typo = substituted(text, position, replacement);
        prop_assert!(pak::parse(&typo).is_err(), "parsed {position}: {replacement:?}");
    }

    #[test]
    fn truncated_pak_never_parses(kind in arb_kind(), cut in any::<Index>()) {
        let issued = issued(kind);
        let text = issued.pak.expose_secret();
        let truncated = &text[..cut.index(text.len())];

        prop_assert!(pak::parse(truncated).is_err(), "parsed {truncated:?}");
    }

    #[test]
    fn extended_pak_never_parses(kind in arb_kind(), extra in "[0-9A-Za-z_]{1,8}") {
        let issued = issued(kind);
        let extended = format!("{}{extra}", issued.pak.expose_secret());

        prop_assert_eq!(pak::parse(&extended).map(|_| ()), Err(MalformedPak::Shape));
    }

    #[test]
    fn wrong_prefix_is_refused_by_parse(kind in arb_kind(), prefix in arb_wrong_prefix()) {
        let issued = issued(kind);
        let text = issued.pak.expose_secret();
        let renamed = format!("{prefix}{}", &text["brk".len()..]);

        prop_assert_eq!(pak::parse(&renamed).map(|_| ()), Err(MalformedPak::Shape));
    }

    #[test]
    fn well_formed_text_parses_to_its_parts((kind, key_id, text) in arb_well_formed()) {
        let parsed = pak::parse(&text);
        let parsed = parsed.map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;

        prop_assert_eq!(parsed.kind, kind);
        prop_assert_eq!(parsed.key_id.as_str(), key_id);
    }

    #[test]
    fn debug_never_shows_the_secret(kind in arb_kind()) {
        let issued = issued(kind);
        let text = issued.pak.expose_secret().to_owned();
        let secret = secret_of(&text);
        let parsed = pak::parse(&text).expect("issued paks parse");

        for shown in [
            format!("{:?}", issued.pak),
            format!("{parsed:?}"),
            format!("{:?}", issued.hash),
            format!("{issued:?}"),
        ] {
            prop_assert!(!shown.contains(secret), "{shown}");
            prop_assert!(!shown.contains(issued.hash.as_phc()), "{shown}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whatever it is given, `parse` returns, and what it accepts has the full shape.
    #[test]
    fn parse_never_panics_and_accepts_only_the_shape(
        text in prop_oneof![
            any::<String>(),
            arb_near_pak(),
            arb_well_formed().prop_map(|(_, _, text)| text),
        ],
    ) {
        if let Ok(parsed) = pak::parse(&text) {
            let head = format!("brk_{}_{}_", parsed.kind.pak_tag(), parsed.key_id);
            prop_assert_eq!(text.len(), MAX_PAK_LEN);
            prop_assert!(text.starts_with(&head), "{text}");
        }
    }
}

/// A [`Store`] over a [`MemoryStore`] that counts credential lookups.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemoryStore,
    credential_lookups: AtomicUsize,
}

impl CountingStore {
    fn credential_lookups(&self) -> usize {
        self.credential_lookups.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn find_credential(&self, key_id: &KeyId) -> Result<Option<Credential>, StoreError> {
        self.credential_lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_credential(key_id).await
    }

    async fn credential_of(&self, principal_id: Uuid) -> Result<Option<Credential>, StoreError> {
        self.inner.credential_of(principal_id).await
    }

    async fn bootstrap_admin(&self, credential: Credential) -> Result<bool, StoreError> {
        self.inner.bootstrap_admin(credential).await
    }

    async fn admin_id(&self) -> Result<Option<Uuid>, StoreError> {
        self.inner.admin_id().await
    }

    async fn replace_credential(&self, credential: Credential) -> Result<(), StoreError> {
        self.inner.replace_credential(credential).await
    }

    async fn create_generator(
        &self,
        generator: NewGenerator,
        credential: Credential,
    ) -> Result<Generator, StoreError> {
        self.inner.create_generator(generator, credential).await
    }

    async fn list_generators(&self) -> Result<Vec<Generator>, StoreError> {
        self.inner.list_generators().await
    }

    async fn get_generator(&self, id: Uuid) -> Result<Option<Generator>, StoreError> {
        self.inner.get_generator(id).await
    }

    async fn update_generator(
        &self,
        id: Uuid,
        change: Rename,
        now: DateTime<Utc>,
    ) -> Result<Generator, StoreError> {
        self.inner.update_generator(id, change, now).await
    }

    async fn delete_generator(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.delete_generator(id, now).await
    }

    async fn create_stack(
        &self,
        stack: NewStack,
        first_object: Option<NewDeploymentObject>,
    ) -> Result<(Stack, Option<DeploymentObject>), StoreError> {
        self.inner.create_stack(stack, first_object).await
    }

    async fn list_stacks(&self, listing: Listing) -> Result<Vec<Stack>, StoreError> {
        self.inner.list_stacks(listing).await
    }

    async fn get_stack(&self, id: Uuid) -> Result<Option<Stack>, StoreError> {
        self.inner.get_stack(id).await
    }

    async fn update_stack(
        &self,
        id: Uuid,
        change: Rename,
        now: DateTime<Utc>,
    ) -> Result<Stack, StoreError> {
        self.inner.update_stack(id, change, now).await
    }

    async fn delete_stack(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.delete_stack(id, now).await
    }

    async fn append_deployment_object(
        &self,
        stack_id: Uuid,
        object: NewDeploymentObject,
    ) -> Result<DeploymentObject, StoreError> {
        self.inner.append_deployment_object(stack_id, object).await
    }

    async fn list_deployment_objects(
        &self,
        stack_id: Uuid,
    ) -> Result<Vec<DeploymentObject>, StoreError> {
        self.inner.list_deployment_objects(stack_id).await
    }

    async fn get_deployment_object(
        &self,
        id: Uuid,
    ) -> Result<Option<DeploymentObject>, StoreError> {
        self.inner.get_deployment_object(id).await
    }

    async fn create_template(&self, template: NewTemplate) -> Result<Template, StoreError> {
        self.inner.create_template(template).await
    }

    async fn list_templates(&self, listing: Listing) -> Result<Vec<Template>, StoreError> {
        self.inner.list_templates(listing).await
    }

    async fn get_template(&self, id: Uuid) -> Result<Option<Template>, StoreError> {
        self.inner.get_template(id).await
    }

    async fn find_template(
        &self,
        owner: Owner,
        name: &str,
    ) -> Result<Option<Template>, StoreError> {
        self.inner.find_template(owner, name).await
    }

    async fn update_template(
        &self,
        id: Uuid,
        change: TemplateChange,
        now: DateTime<Utc>,
    ) -> Result<Template, StoreError> {
        self.inner.update_template(id, change, now).await
    }

    async fn delete_template(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.delete_template(id, now).await
    }
}

/// A broker over a counting store, with an admin and one generator; returns the
/// generator's PAK text.
async fn counted_broker() -> (Broker, Arc<CountingStore>, String) {
    let store = Arc::new(CountingStore::default());
    let config = BrokerConfig {
        hash_params: HashParams::INSECURE_FOR_TESTS,
        ..BrokerConfig::default()
    };
    let broker = Broker::new(Arc::clone(&store) as Arc<dyn Store>, config);

    let admin_pak = broker
        .bootstrap_admin()
        .await
        .expect("bootstrap")
        .expect("new store");
    let admin = broker
        .authenticate(admin_pak.expose_secret())
        .await
        .expect("admin pak authenticates");
    let spec = GeneratorSpec {
        name: "ci".into(),
        description: None,
        expires_at: None,
    };
    let created = broker.create_generator(&admin, spec).await.expect("create");
    let pak = created.pak.expose_secret().to_owned();
    (broker, store, pak)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

/// One way to spoil a good PAK's text.
#[derive(Debug, Clone)]
enum Spoil {
    Substitute(Index, char),
    Truncate(Index),
    Prefix(String),
}

impl Spoil {
    fn apply(&self, text: &str) -> String {
        match self {
            Spoil::Substitute(position, replacement) => {
                let position = position.index(text.len());
                let original = text.chars().nth(position);
                // A "substitution" by the same character would leave a good PAK.
                let replacement = if original == Some(*replacement) {
                    if *replacement == '!' { '?' } else { '!' }
                } else {
                    *replacement
                };
                substituted(text, position, replacement)
            }
            Spoil::Truncate(cut) => text[..cut.index(text.len())].to_owned(),
            Spoil::Prefix(prefix) => format!("{prefix}{}", &text["brk".len()..]),
        }
    }
}

fn arb_spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        (any::<Index>(), arb_replacement()).prop_map(|(i, c)| Spoil::Substitute(i, c)),
        any::<Index>().prop_map(Spoil::Truncate),
        arb_wrong_prefix().prop_map(Spoil::Prefix),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn malformed_pak_is_refused_without_a_store_query(spoil in arb_spoil()) {
        runtime().block_on(async {
            let (broker, store, good) = counted_broker().await;
            let spoilt = spoil.apply(&good);
            let before = store.credential_lookups();

            let outcome = broker.authenticate(&spoilt).await;
            prop_assert!(
                matches!(outcome, Err(AuthError::Malformed(_))),
                "{spoilt:?}: {outcome:?}"
            );
            prop_assert_eq!(store.credential_lookups(), before);
            Ok(())
        })?;
    }
}

#[test]
fn good_pak_is_looked_up_once_then_served_warm() {
    runtime().block_on(async {
        let (broker, store, good) = counted_broker().await;
        let before = store.credential_lookups();

        let cold = broker
            .authenticate(&good)
            .await
            .expect("good pak authenticates");
        assert_eq!(
            store.credential_lookups(),
            before + 1,
            "cold path reads once"
        );

        for _ in 0..3 {
            let warm = broker
                .authenticate(&good)
                .await
                .expect("good pak authenticates");
            assert_eq!(warm, cold);
        }
        assert_eq!(
            store.credential_lookups(),
            before + 1,
            "warm path reads nothing"
        );
    });
}

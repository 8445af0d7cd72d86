//! Authentication against a store that changes behind the broker's back, under bursts of
//! wrong secrets, and across self-rotation with an expiry.

use std::sync::Arc;

use brokkr_core::auth::AuthError;
use brokkr_core::pak::{self, HashParams};
use brokkr_core::store::{Credential, Store};
use brokkr_core::{
    Broker, BrokerConfig, Error, GeneratorSpec, ManualClock, MemoryStore, Principal, PrincipalKind,
    ThrottleLimits,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("instant")
}

struct Fixture {
    broker: Broker,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    admin: Principal,
}

async fn fixture(max_concurrent_hashes: usize) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(start()));
    let config = BrokerConfig {
        hash_params: HashParams::INSECURE_FOR_TESTS,
        max_concurrent_hashes,
        clock: clock.clone(),
        ..BrokerConfig::default()
    };
    let broker = Broker::new(store.clone(), config);
    let admin_pak = broker
        .bootstrap_admin()
        .await
        .expect("bootstrap")
        .expect("minted");
    let admin = broker
        .authenticate(admin_pak.expose_secret())
        .await
        .expect("admin");
    Fixture {
        broker,
        store,
        clock,
        admin,
    }
}

async fn generator(f: &Fixture, expires_at: Option<DateTime<Utc>>) -> (Principal, String) {
    let spec = GeneratorSpec {
        name: "ci".into(),
        description: None,
        expires_at,
    };
    let created = f
        .broker
        .create_generator(&f.admin, spec)
        .await
        .expect("created");
    let pak = created.pak.expose_secret().to_owned();
    let principal = f.broker.authenticate(&pak).await.expect("fresh pak works");
    (principal, pak)
}

/// A PAK text with `key_id`, another secret, and a correct checksum: it passes every
/// check but argon2.
fn wrong_secret_for(pak: &str) -> String {
    let other =
        pak::issue(PrincipalKind::Generator, HashParams::INSECURE_FOR_TESTS).expect("issued");
    let key_id = pak.split('_').nth(2).expect("key id");
    let secret = &other.pak.expose_secret()[25..68];
    let body = format!("brk_gen_{key_id}_{secret}");
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut checksum = [b'0'; 6];
    for slot in checksum.iter_mut().rev() {
        *slot = alphabet[(value % 62) as usize];
        value /= 62;
    }
    format!("{body}{}", String::from_utf8_lossy(&checksum))
}

#[tokio::test]
async fn change_made_behind_the_cache_is_seen_within_the_revalidation_interval() {
    let f = fixture(2).await;
    let (generator, old_pak) = generator(&f, None).await;

    // Another process sharing the database rotates the PAK; no invalidation reaches
    // this broker.
    let issued =
        pak::issue(PrincipalKind::Generator, HashParams::INSECURE_FOR_TESTS).expect("issued");
    let credential = Credential {
        principal: generator,
        key_id: issued.key_id,
        hash: issued.hash,
        expires_at: None,
    };
    f.store
        .replace_credential(credential)
        .await
        .expect("replaced");

    f.clock.advance(Duration::seconds(1));
    assert!(
        f.broker.authenticate(&old_pak).await.is_ok(),
        "still cached"
    );

    f.clock.advance(Duration::seconds(5));
    let refused = f.broker.authenticate(&old_pak).await;
    assert!(matches!(refused, Err(AuthError::UnknownKey)), "{refused:?}");
    assert_eq!(
        f.broker.authenticate(issued.pak.expose_secret()).await.ok(),
        Some(generator)
    );
}

#[tokio::test]
async fn unchanged_pak_is_confirmed_without_hashing_again() {
    let f = fixture(2).await;
    let (generator, pak) = generator(&f, None).await;

    for _ in 0..3 {
        f.clock.advance(Duration::seconds(6));
        assert_eq!(f.broker.authenticate(&pak).await.ok(), Some(generator));
        assert_eq!(f.broker.cache().len(), 2, "admin and generator stay cached");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_wrong_secrets_reaches_argon2_at_most_the_throttle_limit() {
    let f = Arc::new(fixture(1).await);
    let (_, pak) = generator(&f, None).await;
    let wrong = wrong_secret_for(&pak);

    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let f = Arc::clone(&f);
            let wrong = wrong.clone();
            tokio::spawn(async move { f.broker.authenticate(&wrong).await })
        })
        .collect();
    let mut hashed = 0;
    let mut throttled = 0;
    for attempt in attempts {
        match attempt.await.expect("finished") {
            Err(AuthError::WrongSecret) => hashed += 1,
            Err(AuthError::Throttled { .. }) => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }

    assert_eq!(hashed, ThrottleLimits::DEFAULT.max_failures);
    assert_eq!(throttled, 40 - hashed);
    // The holder of the real PAK is not locked out: it is still cached.
    assert!(f.broker.authenticate(&pak).await.is_ok());
}

#[tokio::test]
async fn self_rotation_never_extends_the_admins_expiry() {
    let f = fixture(2).await;
    let deadline = start() + Duration::hours(1);
    let (generator, pak) = generator(&f, Some(deadline)).await;

    let later = Some(start() + Duration::days(30));
    let rotated = f
        .broker
        .rotate_generator_pak(&generator, generator.id, later)
        .await
        .expect("rotated by itself");
    let again = f
        .broker
        .rotate_generator_pak(&generator, generator.id, None)
        .await
        .expect("rotated again");
    assert!(f.broker.authenticate(&pak).await.is_err());
    assert!(
        f.broker
            .authenticate(rotated.pak.expose_secret())
            .await
            .is_err()
    );

    f.clock.advance(Duration::hours(2));
    let expired = f.broker.authenticate(again.pak.expose_secret()).await;
    assert!(matches!(expired, Err(AuthError::Expired)), "{expired:?}");

    // The admin may renew it.
    let renewed = f
        .broker
        .rotate_generator_pak(&f.admin, generator.id, later)
        .await
        .expect("renewed by the admin");
    assert!(
        f.broker
            .authenticate(renewed.pak.expose_secret())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn only_the_admin_renames_a_generator() {
    let f = fixture(2).await;
    let (generator, _) = generator(&f, None).await;
    let rename = || brokkr_core::store::Rename {
        name: Some("renamed".into()),
        description: None,
    };

    let refused = f
        .broker
        .update_generator(&generator, generator.id, rename())
        .await;
    assert!(matches!(refused, Err(Error::Forbidden)), "{refused:?}");
    let renamed = f
        .broker
        .update_generator(&f.admin, generator.id, rename())
        .await;
    assert_eq!(renamed.expect("renamed").name, "renamed");
}

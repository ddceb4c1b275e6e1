//! Test certificates, made with the `openssl` crate (no `openssl` binary needed): one self-signed
//! certificate for 127.0.0.1/localhost that serves as its own CA, and its key in PEM, plain and
//! encrypted. Also compiled into the library's unit tests (`src/kafka/security_tests.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};

/// A self-signed certificate and its key.
pub struct TestCert {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl TestCert {
    /// A CA-capable self-signed certificate for `127.0.0.1` and `localhost`, valid for a day.
    pub fn new() -> TestCert {
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa key")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "eosflow test").expect("cn");
        let name = name.build();
        let mut builder = X509::builder().expect("x509 builder");
        builder.set_version(2).expect("version");
        let mut serial = BigNum::new().expect("bn");
        serial
            .rand(64, MsbOption::MAYBE_ZERO, false)
            .expect("serial");
        builder
            .set_serial_number(&serial.to_asn1_integer().expect("asn1"))
            .expect("serial");
        builder.set_subject_name(&name).expect("subject");
        builder.set_issuer_name(&name).expect("issuer");
        builder.set_pubkey(&key).expect("pubkey");
        builder
            .set_not_before(&Asn1Time::days_from_now(0).expect("time"))
            .expect("not before");
        builder
            .set_not_after(&Asn1Time::days_from_now(1).expect("time"))
            .expect("not after");
        builder
            .append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("basic constraints");
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&builder.x509v3_context(None, None))
            .expect("san");
        builder.append_extension(san).expect("san");
        builder.sign(&key, MessageDigest::sha256()).expect("sign");
        TestCert {
            cert: builder.build(),
            key,
        }
    }

    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().expect("cert pem")
    }

    pub fn key_pem(&self) -> Vec<u8> {
        self.key.private_key_to_pem_pkcs8().expect("key pem")
    }

    /// The key as encrypted PKCS#8 PEM, protected by `password`.
    pub fn encrypted_key_pem(&self, password: &str) -> Vec<u8> {
        self.key
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), password.as_bytes())
            .expect("encrypted key pem")
    }

    /// Write `cert.pem`, `key.pem` and (with a password) `key.enc.pem` into `dir`.
    pub fn write(&self, dir: &Path, password: &str) -> CertFiles {
        let files = CertFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            encrypted_key: dir.join("key.enc.pem"),
        };
        std::fs::write(&files.cert, self.cert_pem()).expect("write cert");
        std::fs::write(&files.key, self.key_pem()).expect("write key");
        std::fs::write(&files.encrypted_key, self.encrypted_key_pem(password))
            .expect("write encrypted key");
        files
    }
}

/// Paths of the files [`TestCert::write`] wrote.
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub encrypted_key: PathBuf,
}

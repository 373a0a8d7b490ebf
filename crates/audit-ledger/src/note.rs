//! C2SP signed notes (`c2sp.org/signed-note`, Go's `golang.org/x/mod/sumdb/note`) with Ed25519
//! keys, and the C2SP `tlog-checkpoint` body they carry.
//!
//! Key strings are Go's: a verifier key is `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`,
//! a signer key is `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`. The key id is the first
//! four bytes (big-endian) of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), so old checkpoints stay
//! verifiable after a rotation: each signature line names its key by name and id.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::tree::Hash;

/// The algorithm byte of Ed25519 keys in signed notes.
const ALG_ED25519: u8 = 1;
/// Largest note accepted (a checkpoint is a few hundred bytes).
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines read from one note.
pub const MAX_SIGNATURES: usize = 100;

/// Errors of key and note parsing and verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key string is malformed.
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    /// A key name is empty or holds whitespace or '+'.
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    BadName(String),
    /// The note is malformed; `offset` is the byte where the problem starts.
    #[error("malformed note at byte {offset}: {what}")]
    Malformed {
        /// Byte offset in the note.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// No signature by a known key verified.
    #[error("no signature by a known key verifies this note")]
    Unverified,
    /// A signature by a known key is invalid.
    #[error("signature by {name} (key id {id:08x}) is invalid")]
    BadSignature {
        /// Key name.
        name: String,
        /// Key id.
        id: u32,
    },
    /// The checkpoint body is malformed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A note signing key (Ed25519).
pub struct Signer {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a 32-byte seed (the caller supplies randomness: this crate does no I/O).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Parses a Go signer key `PRIVATE+KEY+<name>+<id>+<base64>`.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let s = s.trim();
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("a signer key starts with PRIVATE+KEY+"))?;
        let (name, id, key) = split_key(rest)?;
        if key.len() != 33 || key[0] != ALG_ED25519 {
            return Err(NoteError::BadKey(
                "only Ed25519 keys (algorithm 1, 32 bytes) are supported",
            ));
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&key[1..]);
        let signer = Signer::from_seed(name, seed)?;
        if signer.id != id {
            return Err(NoteError::BadKey("key id does not match the name and key"));
        }
        Ok(signer)
    }

    /// The Go signer key string (secret: store it in a 0600 file).
    pub fn to_key_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(raw)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Signs a note text (which must end with a newline and hold no blank line) and returns
    /// the signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.id.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            B64.encode(raw)
        ))
    }
}

/// A note verifier key (Ed25519).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// Parses a Go verifier key `<name>+<id>+<base64>`.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let (name, id, key) = split_key(s.trim())?;
        if key.len() != 33 || key[0] != ALG_ED25519 {
            return Err(NoteError::BadKey(
                "only Ed25519 keys (algorithm 1, 32 bytes) are supported",
            ));
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&key[1..]);
        if key_id(name, &pk) != id {
            return Err(NoteError::BadKey("key id does not match the name and key"));
        }
        let key = VerifyingKey::from_bytes(&pk)
            .map_err(|_| NoteError::BadKey("not a valid Ed25519 public key"))?;
        Ok(Verifier {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The Go verifier key string.
    pub fn to_key_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

fn split_key(s: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::BadKey("expected <name>+<id>+<key>"));
    };
    if !valid_name(name) {
        return Err(NoteError::BadName(name.to_owned()));
    }
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadKey("key id must be 8 hex digits"));
    }
    let id = u32::from_str_radix(id, 16)
        .map_err(|_| NoteError::BadKey("key id must be 8 hex digits"))?;
    let key = B64
        .decode(key)
        .map_err(|_| NoteError::BadKey("key is not valid base64"))?;
    Ok((name, id, key))
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed {
            offset: MAX_NOTE_BYTES,
            what: "note is too large",
        });
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed {
            offset: text.len(),
            what: "note text must end with a newline",
        });
    }
    if let Some(i) = text.find("\n\n") {
        return Err(NoteError::Malformed {
            offset: i + 1,
            what: "note text must not contain a blank line",
        });
    }
    if let Some((i, _)) = text
        .char_indices()
        .find(|&(_, c)| c != '\n' && (c.is_control() || c == '\u{2028}' || c == '\u{2029}'))
    {
        return Err(NoteError::Malformed {
            offset: i,
            what: "note text must not contain control characters",
        });
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub id: u32,
    /// The raw Ed25519 signature.
    pub sig: Vec<u8>,
}

/// A parsed (not yet verified) signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending with its newline.
    pub text: String,
    /// Signature lines in order.
    pub sigs: Vec<NoteSignature>,
}

/// Parses a signed note without verifying it.
pub fn parse_note(msg: &[u8]) -> Result<Note, NoteError> {
    if msg.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed {
            offset: MAX_NOTE_BYTES,
            what: "note is too large",
        });
    }
    let msg = std::str::from_utf8(msg).map_err(|e| NoteError::Malformed {
        offset: e.valid_up_to(),
        what: "note is not UTF-8",
    })?;
    let split = msg.rfind("\n\n").ok_or(NoteError::Malformed {
        offset: msg.len(),
        what: "no blank line before the signatures",
    })?;
    let text = &msg[..split + 1];
    check_text(text)?;
    let sigs_text = &msg[split + 2..];
    if sigs_text.is_empty() || !sigs_text.ends_with('\n') {
        return Err(NoteError::Malformed {
            offset: split + 2,
            what: "signature lines must be present and end with a newline",
        });
    }
    let mut sigs = Vec::new();
    let mut offset = split + 2;
    for line in sigs_text[..sigs_text.len() - 1].split('\n') {
        if sigs.len() >= MAX_SIGNATURES {
            return Err(NoteError::Malformed {
                offset,
                what: "too many signatures",
            });
        }
        let bad = |what| NoteError::Malformed { offset, what };
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or(bad("a signature line starts with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(bad("signature line has no key name"))?;
        if !valid_name(name) {
            return Err(bad("invalid key name in signature line"));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| bad("signature is not valid base64"))?;
        if raw.len() < 5 {
            return Err(bad("signature is too short"));
        }
        sigs.push(NoteSignature {
            name: name.to_owned(),
            id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            sig: raw[4..].to_vec(),
        });
        offset += line.len() + 1;
    }
    Ok(Note {
        text: text.to_owned(),
        sigs,
    })
}

/// Parses a note and verifies it: every signature by a known key must verify, and at least
/// one must be by a known key. Returns the note and the verifiers that signed it.
pub fn open<'a>(msg: &[u8], known: &'a [Verifier]) -> Result<(Note, Vec<&'a Verifier>), NoteError> {
    let note = parse_note(msg)?;
    let mut signed = Vec::new();
    for s in &note.sigs {
        let Some(v) = known.iter().find(|v| v.name == s.name && v.id == s.id) else {
            continue;
        };
        let sig = Signature::from_slice(&s.sig).map_err(|_| NoteError::BadSignature {
            name: s.name.clone(),
            id: s.id,
        })?;
        v.key
            .verify(note.text.as_bytes(), &sig)
            .map_err(|_| NoteError::BadSignature {
                name: s.name.clone(),
                id: s.id,
            })?;
        if !signed.contains(&v) {
            signed.push(v);
        }
    }
    if signed.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok((note, signed))
}

/// A C2SP `tlog-checkpoint` body: origin, tree size, root hash, optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Extension lines (without newlines).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text (ends with a newline).
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body (the text of a signed note).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(NoteError::BadCheckpoint("body must end with a newline"));
        };
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::BadCheckpoint("origin line is empty"));
        }
        let size = lines
            .next()
            .ok_or(NoteError::BadCheckpoint("missing tree size line"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(NoteError::BadCheckpoint(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| NoteError::BadCheckpoint("tree size does not fit in 64 bits"))?;
        let root = lines
            .next()
            .ok_or(NoteError::BadCheckpoint("missing root hash line"))?;
        let root = B64
            .decode(root)
            .map_err(|_| NoteError::BadCheckpoint("root hash is not valid base64"))?;
        let root: Hash = root
            .try_into()
            .map_err(|_| NoteError::BadCheckpoint("root hash is not 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: lines.map(str::to_owned).collect(),
        })
    }

    /// Signs this checkpoint.
    pub fn sign(&self, signer: &Signer) -> Result<String, NoteError> {
        signer.sign(&self.to_text())
    }

    /// Opens a signed checkpoint note with the known keys.
    pub fn open<'a>(
        msg: &[u8],
        known: &'a [Verifier],
    ) -> Result<(Self, Vec<&'a Verifier>), NoteError> {
        let (note, by) = open(msg, known)?;
        Ok((Checkpoint::parse(&note.text)?, by))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign() {
        let s = Signer::from_seed("example.com/log", [7u8; 32]).expect("signer");
        let again = Signer::parse(&s.to_key_string()).expect("parse signer");
        assert_eq!(again.id(), s.id());
        let v = Verifier::parse(&s.verifier().to_key_string()).expect("parse verifier");
        assert_eq!(v, s.verifier());
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 3,
            root: [9u8; 32],
            extensions: vec![],
        };
        let note = cp.sign(&s).expect("sign");
        let (got, by) = Checkpoint::open(note.as_bytes(), std::slice::from_ref(&v)).expect("open");
        assert_eq!(got, cp);
        assert_eq!(by.len(), 1);
        // A flipped byte in the body fails.
        let bad = note.replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(
            Checkpoint::open(bad.as_bytes(), std::slice::from_ref(&v)),
            Err(NoteError::BadSignature { .. })
        ));
        // Another key is unknown.
        let other = Signer::from_seed("example.com/log", [8u8; 32]).expect("other");
        assert_eq!(
            Checkpoint::open(note.as_bytes(), &[other.verifier()]).err(),
            Some(NoteError::Unverified)
        );
    }

    #[test]
    fn hostile_notes_are_errors() {
        for m in [
            "",
            "\n\n",
            "a\n\n",
            "a\n\n\u{2014} x\n",
            "a\n\n\u{2014} x !!!\n",
            "a\nb",
        ] {
            assert!(parse_note(m.as_bytes()).is_err(), "{m:?}");
        }
        assert!(Checkpoint::parse("o\n01\nAAAA\n").is_err());
        assert!(Checkpoint::parse("o\n1\n").is_err());
    }
}

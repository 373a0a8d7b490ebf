#!/bin/sh
# Generates the signing fixture matrix for crates/apk-signature: keys, unsigned base APKs, and APKs
# signed with Debian's apksigner (key types x schemes, lineage rotation, several signers, source stamp).
# Defects are made afterwards by mutating these files in Rust (crates/apk-signature/tests/it/fixtures.rs).
#
# Usage: gen.sh OUT_DIR        (OUT_DIR must not exist yet; the test harness renames it into place)
# Writes OUT_DIR/apks/*.apk and OUT_DIR/index.txt ("<file> <minSdk>" per line).
# Needs: aapt, zipalign, apksigner, openssl, framework-res.apk (Debian packages).
set -eu
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
FW=/usr/share/android-framework-res/framework-res.apk
mkdir -p "$OUT/keys" "$OUT/apks" "$OUT/work"
K=$OUT/keys
W=$OUT/work
A=$OUT/apks

# ---- keys: PKCS#8 DER private key + DER certificate -------------------------------------------
mkcert() { # name keyfile.pem
    openssl req -new -x509 -key "$2" -out "$W/$1.crt.pem" -days 9000 -sha256 \
        -subj "/C=DE/O=Interdict Test/OU=Signing/CN=$1" 2>/dev/null
    openssl x509 -in "$W/$1.crt.pem" -outform DER -out "$K/$1.der"
    openssl pkcs8 -topk8 -nocrypt -in "$2" -outform DER -out "$K/$1.pk8"
}
for bits in 1024 2048 3072 4096; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:$bits -out "$W/rsa$bits.pem" 2>/dev/null
    mkcert rsa$bits "$W/rsa$bits.pem"
done
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/rsa2048b.pem" 2>/dev/null
mkcert rsa2048b "$W/rsa2048b.pem"
for c in 256 384 521; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-$c -out "$W/ec$c.pem" 2>/dev/null
    mkcert ec$c "$W/ec$c.pem"
done
for i in 1 2 3 4 5 6 7 8 9 10 11; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/s$i.pem" 2>/dev/null
    mkcert s$i "$W/s$i.pem"
done
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 -pkeyopt dsa_paramgen_q_bits:160 \
    -out "$W/dsa1024.param" 2>/dev/null
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -pkeyopt dsa_paramgen_q_bits:256 \
    -out "$W/dsa2048.param" 2>/dev/null
for bits in 1024 2048; do
    openssl genpkey -paramfile "$W/dsa$bits.param" -out "$W/dsa$bits.pem" 2>/dev/null
    mkcert dsa$bits "$W/dsa$bits.pem"
done

# ---- unsigned base APKs: minSdk 14, 18, 21, 24, 28; a multi-chunk stored asset and a deflated one -------
mkdir -p "$W/assets"
head -c 3000000 /dev/urandom > "$W/assets/big.bin"
i=0; while [ $i -lt 2000 ]; do echo "line $i of a compressible text asset"; i=$((i+1)); done > "$W/assets/text.txt"
for min in 14 18 21 24 28; do
    mkdir -p "$W/m$min"
    sed "s/@MIN@/$min/" "$HERE/AndroidManifest.xml.in" > "$W/m$min/AndroidManifest.xml"
    aapt package -f -0 bin -M "$W/m$min/AndroidManifest.xml" -I "$FW" -A "$W/assets" -F "$W/raw$min.apk" >/dev/null
    zipalign -f 4 "$W/raw$min.apk" "$W/base$min.apk"
done
cp "$W/base14.apk" "$A/unsigned.apk"
echo "unsigned.apk 14" >> "$OUT/index.txt"
for min in 24 28; do cp "$W/base$min.apk" "$A/unsigned$min.apk"; echo "unsigned$min.apk $min" >> "$OUT/index.txt"; done

signer() { echo "--key $K/$1.pk8 --cert $K/$1.der"; }
sign() { # out minSdk flags...
    out=$1; min=$2; shift 2
    # shellcheck disable=SC2068
    apksigner sign $@ --out "$A/$out" "$W/base$min.apk"
    echo "$out $min" >> "$OUT/index.txt"
}

# ---- key types x schemes ------------------------------------------------------------------------
for k in rsa1024 rsa2048 rsa3072 rsa4096 ec256 ec384 ec521 dsa1024 dsa2048; do
    case $k in ec*) lo=18 ;; dsa2048) lo=21 ;; *) lo=14 ;; esac   # v1: ECDSA needs 18, SHA256withDSA 21
    sign v1-$k.apk $lo --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $(signer $k)
    sign v2-$k.apk 24 --v1-signing-enabled false --v2-signing-enabled true --v3-signing-enabled false $(signer $k)
    sign v3-$k.apk 28 --v1-signing-enabled false --v2-signing-enabled false --v3-signing-enabled true $(signer $k)
    sign v123-$k.apk $lo --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true $(signer $k)
done
# v1 with SHA-256 digests (minSdk >= 18), v1+v2, v2+v3.
sign v1-min24-rsa2048.apk 24 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $(signer rsa2048)
sign v1-min24-ec256.apk 24 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $(signer ec256)
sign v12-rsa2048.apk 14 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled false $(signer rsa2048)
sign v23-ec256.apk 24 --v1-signing-enabled false --v2-signing-enabled true --v3-signing-enabled true $(signer ec256)
# Several signers (v3 allows only one, so v1 and/or v2 only).
sign two-signers-v12.apk 18 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled false \
    $(signer rsa2048) --next-signer $(signer ec256)
sign two-signers-v2.apk 24 --v1-signing-enabled false --v2-signing-enabled true --v3-signing-enabled false \
    $(signer rsa2048) --next-signer $(signer dsa2048)
ten="$(signer s1)"; for i in 2 3 4 5 6 7 8 9 10; do ten="$ten --next-signer $(signer s$i)"; done
sign v1-10-signers.apk 18 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $ten
# An eleventh v1 signer, merged into v1-10-signers.apk by the Rust mutator (apksigner cannot exceed 10).
sign v1-s11.apk 18 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false \
    --v1-signer-name S11 $(signer s11)
sign v2-10-signers.apk 24 --v1-signing-enabled false --v2-signing-enabled true --v3-signing-enabled false $ten
# Key rotation (v3 proof-of-rotation lineage): rsa2048 -> ec256, and rsa2048 -> ec256 -> rsa3072.
apksigner rotate --out "$W/lin2" --old-signer $(signer rsa2048) --new-signer $(signer ec256)
apksigner rotate --in "$W/lin2" --out "$W/lin3" --old-signer $(signer ec256) --new-signer $(signer rsa3072)
sign v123-lineage-2.apk 14 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true \
    --lineage "$W/lin2" $(signer rsa2048) --next-signer $(signer ec256)
sign v3-lineage-3.apk 28 --v1-signing-enabled false --v2-signing-enabled false --v3-signing-enabled true \
    --lineage "$W/lin3" $(signer rsa3072)
sign v123-lineage-3.apk 14 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true \
    --lineage "$W/lin3" $(signer rsa2048) --next-signer $(signer rsa3072)
# Source stamp.
sign v123-stamp.apk 14 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true \
    $(signer rsa2048) --stamp-signer $(signer rsa2048b)
# Same content signed by another key: its .RSA is swapped into v1-rsa2048.apk by the mutator.
sign v1-rsa2048b-src.apk 14 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false \
    $(signer rsa2048b)

# ---- issue 11: fixtures made the way *other* tools make them ----------------------------------------
# Names with other string types: PrintableString (string_mask nombstr) and double white space; the
# Rust mutator re-types/re-cases the SignerInfo's copy of the issuer (m-v1-pstr-*).
cat > "$W/nombstr.cnf" <<'CNF'
[req]
distinguished_name = dn
string_mask = nombstr
prompt = no
[dn]
C = DE
O = Interdict  Test
CN = Printable Signer
CNF
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/pstr.pem" 2>/dev/null
openssl req -new -x509 -key "$W/pstr.pem" -out "$W/pstr.crt.pem" -days 9000 -sha256 -config "$W/nombstr.cnf"
openssl x509 -in "$W/pstr.crt.pem" -outform DER -out "$K/pstr.der"
openssl pkcs8 -topk8 -nocrypt -in "$W/pstr.pem" -outform DER -out "$K/pstr.pk8"
# A serial number with the high bit set (DER: a leading zero byte).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/serialhi.pem" 2>/dev/null
openssl req -new -x509 -key "$W/serialhi.pem" -out "$W/serialhi.crt.pem" -days 9000 -sha256 \
    -set_serial 0x8badf00ddeadbeef8badf00ddeadbeef -subj "/C=DE/O=Interdict Test/CN=serialhi"
openssl x509 -in "$W/serialhi.crt.pem" -outform DER -out "$K/serialhi.der"
openssl pkcs8 -topk8 -nocrypt -in "$W/serialhi.pem" -outform DER -out "$K/serialhi.pk8"
# The private key of rsa2048, PEM, for the negative-modulus certificate made by the mutator.
cp "$W/rsa2048.pem" "$K/rsa2048.key.pem"
sign v1-pstr.apk 14 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $(signer pstr)
sign v123-pstr.apk 14 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true $(signer pstr)
sign v1-serialhi.apk 14 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $(signer serialhi)
sign v123-serialhi.apk 14 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true $(signer serialhi)
# Java's jarsigner as a second v1 signer (PKCS #12 keystores; signed attributes, its own .SF layout).
for k in rsa2048 ec256 pstr serialhi; do
    openssl pkcs12 -export -inkey "$W/$k.pem" -in "$W/$k.crt.pem" -out "$W/$k.p12" -passout pass:interdict -name $k
done
jsign() { # out base minSdk key jarsigner-flags...
    out=$1; base=$2; min=$3; k=$4; shift 4
    # shellcheck disable=SC2068
    jarsigner -J-Duser.language=en -keystore "$W/$k.p12" -storetype PKCS12 -storepass interdict $@ \
        -signedjar "$A/$out" "$W/$base.apk" $k >/dev/null
    echo "$out $min" >> "$OUT/index.txt"
}
# jarsigner always adds signed attributes, which Android < 19 cannot verify: the minSdk 14/18 ones fail.
jsign jarsigner-rsa2048-sha1.apk base14 14 rsa2048 -digestalg SHA-1 -sigalg SHA1withRSA
jsign jarsigner-ec256-min18.apk base18 18 ec256
jsign jarsigner-rsa2048.apk base24 24 rsa2048
jsign jarsigner-ec256.apk base24 24 ec256
jsign jarsigner-pstr.apk base24 24 pstr
jsign jarsigner-serialhi.apk base24 24 serialhi
jsign jarsigner-rsa2048-sha1-min24.apk base24 24 rsa2048 -digestalg SHA-1 -sigalg SHA1withRSA
# No uses-sdk at all (minSdk 1), and apksigner --min-sdk-version 1.
mkdir -p "$W/nosdk"
grep -v uses-sdk "$HERE/AndroidManifest.xml.in" > "$W/nosdk/AndroidManifest.xml"
aapt package -f -0 bin -M "$W/nosdk/AndroidManifest.xml" -I "$FW" -A "$W/assets" -F "$W/rawnosdk.apk" >/dev/null
zipalign -f 4 "$W/rawnosdk.apk" "$W/basenosdk.apk"
apksigner sign --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $(signer rsa2048) \
    --out "$A/v1-nosdk-rsa2048.apk" "$W/basenosdk.apk"; echo "v1-nosdk-rsa2048.apk 1" >> "$OUT/index.txt"
apksigner sign --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true $(signer rsa3072) \
    --out "$A/v123-nosdk-rsa3072.apk" "$W/basenosdk.apk"; echo "v123-nosdk-rsa3072.apk 1" >> "$OUT/index.txt"
jsign jarsigner-nosdk-rsa2048-sha1.apk basenosdk 1 rsa2048 -digestalg SHA-1 -sigalg SHA1withRSA
for b in 14 18 24; do
    apksigner sign --min-sdk-version 1 --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled false \
        $(signer rsa2048) --out "$A/v12-minsdk1-on-$b.apk" "$W/base$b.apk"
    echo "v12-minsdk1-on-$b.apk $b" >> "$OUT/index.txt"
done
apksigner sign --min-sdk-version 1 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false \
    $(signer rsa4096) --out "$A/v1-minsdk1-rsa4096.apk" "$W/base18.apk"; echo "v1-minsdk1-rsa4096.apk 18" >> "$OUT/index.txt"
# targetSdkVersion 30: v1 alone is not enough (MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET). Third index field: target.
mkdir -p "$W/t30"
sed -e "s/@MIN@/21/" -e 's/targetSdkVersion="28"/targetSdkVersion="30"/' "$HERE/AndroidManifest.xml.in" > "$W/t30/AndroidManifest.xml"
aapt package -f -0 bin -M "$W/t30/AndroidManifest.xml" -I "$FW" -A "$W/assets" -F "$W/rawt30.apk" >/dev/null
zipalign -f 4 "$W/rawt30.apk" "$W/baset30.apk"
apksigner sign --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false $(signer rsa2048) \
    --out "$A/v1-target30.apk" "$W/baset30.apk"; echo "v1-target30.apk 21 30" >> "$OUT/index.txt"
apksigner sign --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled false $(signer rsa2048) \
    --out "$A/v12-target30.apk" "$W/baset30.apk"; echo "v12-target30.apk 21 30" >> "$OUT/index.txt"
# More source stamps (v2 only, v1 only, EC stamp key); bad stamps are made by the mutator.
sign v2-stamp.apk 24 --v1-signing-enabled false --v2-signing-enabled true --v3-signing-enabled false \
    $(signer rsa2048) --stamp-signer $(signer rsa3072)
sign v1-stamp.apk 14 --v1-signing-enabled true --v2-signing-enabled false --v3-signing-enabled false \
    $(signer rsa2048) --stamp-signer $(signer rsa2048b)
sign v3-stamp.apk 28 --v1-signing-enabled false --v2-signing-enabled false --v3-signing-enabled true \
    $(signer ec256) --stamp-signer $(signer rsa2048b)
rm -rf "$W"

#!/bin/sh
# Makes test_tls's throwaway keys and certificates in DIR with the openssl
# command (Debian's OpenSSL 3.0): a CA, and certificates it signs for
# localhost (and 127.0.0.1), for the wrong name, and for localhost but
# expired (openssl ca with dates in the past: x509 -days refuses them).
# Usage: tests/tls_certs.sh DIR
set -eu
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 3 -subj /CN=spool-test-CA \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >localhost.ext
printf 'subjectAltName=DNS:wrong.example\n' >wrong.ext
for name in localhost wrong expired; do
    key "$name.key"
done
openssl req -new -key localhost.key -out localhost.csr -subj /CN=localhost
openssl req -new -key wrong.key -out wrong.csr -subj /CN=wrong.example
openssl req -new -key expired.key -out expired.csr -subj /CN=localhost
openssl x509 -req -in localhost.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 3 \
    -extfile localhost.ext -out localhost.pem 2>/dev/null
openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days 3 \
    -extfile wrong.ext -out wrong.pem 2>/dev/null
: >index.txt
echo 04 >serial
cat >ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext -extfile localhost.ext 2>/dev/null

#!/usr/bin/env bash
# Writes what deploy/nats.conf and docker-compose.yml read from deploy/secrets/: a private CA,
# the NATS server certificate (nats, localhost, 127.0.0.1), one client certificate for posgate's
# processes, the gateway nodes' server certificate (admin API, terminal TLS), a password per NATS user and nats.env for the server. Keep the directory private;
# rerunning replaces everything (clients need the new files).
set -euo pipefail
dir=${1:-"$(dirname "$0")/secrets"}
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 077
days=825
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=posgate NATS CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
leaf() { # name CN extendedKeyUsage subjectAltName
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf 'extendedKeyUsage=%s\nsubjectAltName=%s\n' "$3" "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf nats-server nats "serverAuth,clientAuth" "DNS:nats,DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:localhost,IP:127.0.0.1"
leaf nats-client posgate clientAuth "DNS:posgate"
# The gateway nodes' admin API and terminal TLS listener (through the load balancer lb).
leaf posgate-server posgate serverAuth "DNS:localhost,DNS:lb,DNS:posgate-1,DNS:posgate-2,IP:127.0.0.1"
for user in gateway ops issuer; do
  openssl rand -hex 24 > "nats-$user.password"
done
{
  echo "NATS_TLS_CERT=/etc/nats/certs/nats-server.pem"
  echo "NATS_TLS_KEY=/etc/nats/certs/nats-server-key.pem"
  echo "NATS_TLS_CA=/etc/nats/certs/ca.pem"
  for user in gateway ops issuer; do
    echo "POSGATE_NATS_${user^^}_PASSWORD=$(cat "nats-$user.password")"
  done
} > nats.env
rm -f ca.srl
echo "wrote $(pwd): ca.pem, nats-server*.pem, nats-client*.pem, posgate-server*.pem, nats-{gateway,ops,issuer}.password, nats.env"

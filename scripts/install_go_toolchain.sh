#!/usr/bin/env bash
# Installs Debian's Go toolchain and the Go protobuf / gRPC packages the Go client
# builds against (GOPATH mode, /usr/share/gocode), when any is missing.
# golang-github-golang-protobuf-1-5-dev matters: without it the old APIv1 package
# that grpc-go 1.33 imports is the 1.3 one, and the binary panics at start.
set -euo pipefail
packages=(
  golang-go
  protoc-gen-go
  protoc-gen-go-grpc
  golang-google-grpc-dev
  golang-google-protobuf-dev
  golang-google-genproto-dev
  golang-github-golang-protobuf-1-5-dev
)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

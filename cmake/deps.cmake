#  Every dependency is a Debian package found through pkg-config (czmq ships no
#  CMake package config). Each becomes an imported target PkgConfig::<NAME>.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CZMQ REQUIRED IMPORTED_TARGET libczmq)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(RABBITMQ REQUIRED IMPORTED_TARGET librabbitmq)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
#  libcurl is the HTTP client of tests and the CLI.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
find_program(PROTOC_C protoc-c REQUIRED)

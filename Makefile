# Letterbox — one non-recursive GNU Makefile (style.md §5.10).
#   make                 build bin/letterbox-smtpd, bin/letterbox-pop3d, bin/letterbox
#   make SANITIZE=address,undefined   the same into build/asan/
#   make check-valgrind  the daemons under valgrind, a subset of the protocol suites
#   make test            everything CI runs (see tests/run.sh)
#   make run             build and start a development server (scripts/dev-run.sh)
#   make install         install (PREFIX=/usr/local, DESTDIR, SBINDIR, MANDIR, SYSCONFDIR, SYSTEMDDIR)
#   make lint            cppcheck
#   make fuzz            libFuzzer binaries (clang) into build/fuzz/

CC      ?= cc
CSTD    := -std=c17 -D_GNU_SOURCE
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wmissing-declarations -Wpointer-arith -Wcast-qual -Wformat=2 \
           -Wimplicit-fallthrough -Wwrite-strings -Wvla -Wundef
HARDEN  := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
HARDEN_LD := -pie -Wl,-z,relro,-z,now
PKGS    := openssl libsodium
PKG_CONFIG ?= pkg-config

# Cross build, e.g. CROSS=aarch64-linux-gnu- (make check-arm64): that triplet's gcc and
# ar, and the libraries of Debian's multiarch packages (libssl-dev:arm64 ...), into
# build/<Debian arch>. Its programs are not copied into bin/.
ifdef CROSS
CROSS_TRIPLET := $(CROSS:%-=%)
CROSS_ARCH  := $(or $(shell dpkg-architecture -t$(CROSS_TRIPLET) -qDEB_HOST_ARCH 2>/dev/null),$(CROSS_TRIPLET))
CC          := $(CROSS)gcc
AR          := $(CROSS)ar
PKG_CONFIG  := PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS_TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config
BUILD       ?= build/$(CROSS_ARCH)
endif

DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lsodium) -ldb-5.3 -lpam -lresolv

ifdef SANITIZE
BUILD   ?= build/asan
SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
HARDEN  := -fPIE
OPT     := -O1 -g
else
BUILD   ?= build/release
SANFLAGS :=
endif

CFLAGS_ALL  = $(CSTD) $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) $(DEP_CFLAGS) -I. -MMD -MP $(CFLAGS)
LDFLAGS_ALL = $(HARDEN_LD) $(SANFLAGS) $(LDFLAGS)

# lib/: shared, no protocol knowledge, no policy.
LIB_SRCS += lib/buf.c
LIB_SRCS += lib/line.c
LIB_SRCS += lib/log.c
LIB_SRCS += lib/conf.c
LIB_SRCS += lib/settings.c
LIB_SRCS += lib/conn.c
LIB_SRCS += lib/tls.c
LIB_SRCS += lib/listener.c
LIB_SRCS += lib/privdrop.c
LIB_SRCS += lib/xmalloc.c
LIB_SRCS += lib/util.c
LIB_SRCS += lib/sasl.c
LIB_SRCS += lib/helper.c
LIB_SRCS += lib/daemon.c
LIB_SRCS += lib/reload.c
LIB_SRCS += lib/fdpass.c
LIB_SRCS += lib/cmdtab.c
LIB_SRCS += lib/xml.c
LIB_SRCS += maildir/maildir.c
LIB_SRCS += maildir/scan.c
LIB_SRCS += maildir/index.c
LIB_SRCS += maildir/index_sync.c
LIB_SRCS += maildir/index_rebuild.c
LIB_SRCS += maildir/indexer.c
# auth/: the auth process, PAM, app passwords, throttling (shared by both daemons).
LIB_SRCS += auth/throttle.c
LIB_SRCS += auth/apppass.c
LIB_SRCS += auth/verify.c
LIB_SRCS += auth/authd.c
LIB_SRCS += auth/client.c
LIB_SRCS += auth/service.c
# dkim/: DKIM signing (RFC 6376, 8463).
LIB_SRCS += dkim/canon.c
LIB_SRCS += dkim/sign.c
LIB_SRCS += dkim/keys.c
# queue/: the outbound queue, its delivery processes and bounces.
LIB_SRCS += queue/queue.c
LIB_SRCS += queue/deliver.c
LIB_SRCS += queue/runner.c
LIB_SRCS += queue/dsn.c
# relay/: outbound delivery (DNS, SMTP client).
LIB_SRCS += relay/dns.c
LIB_SRCS += relay/smtp_reply.c
LIB_SRCS += relay/smtp_client.c
LIB_SRCS += relay/dns_records.c
LIB_SRCS += relay/mailrec.c

# smtpd/: everything but main.c links into tests and fuzzers unchanged.
SMTPD_SRCS += smtpd/address.c
SMTPD_SRCS += smtpd/dotstuff.c
SMTPD_SRCS += smtpd/policy.c
SMTPD_SRCS += smtpd/session.c
SMTPD_SRCS += smtpd/commands.c
SMTPD_SRCS += smtpd/cmd_session.c
SMTPD_SRCS += smtpd/cmd_tls.c
SMTPD_SRCS += smtpd/cmd_envelope.c
SMTPD_SRCS += smtpd/cmd_data.c
SMTPD_SRCS += smtpd/cmd_auth.c
SMTPD_SRCS += smtpd/outbound.c

# pop3d/: the same: main.c alone stays out of the library.
POP3D_SRCS += pop3d/retr.c
POP3D_SRCS += pop3d/maildrop.c
POP3D_SRCS += pop3d/session.c
POP3D_SRCS += pop3d/commands.c
POP3D_SRCS += pop3d/cmd_session.c
POP3D_SRCS += pop3d/cmd_auth.c
POP3D_SRCS += pop3d/cmd_mail.c

LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
SMTPD_OBJS := $(SMTPD_SRCS:%.c=$(BUILD)/%.o)
POP3D_OBJS := $(POP3D_SRCS:%.c=$(BUILD)/%.o)
LIBA       := $(BUILD)/libletterbox.a
SMTPDA     := $(BUILD)/libsmtpd.a
POP3DA     := $(BUILD)/libpop3d.a

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REGRESS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz-regress/%)

CLI_SRCS += cli/main.c
CLI_SRCS += cli/cmd_index.c
CLI_SRCS += cli/cmd_passwd.c
CLI_SRCS += cli/cmd_dkim.c
CLI_SRCS += cli/cmd_queue.c
CLI_SRCS += cli/cmd_client.c
CLI_SRCS += cli/cmd_check.c
CLI_SRCS += cli/check_cert.c
CLI_SRCS += cli/check_dns.c
CLI_SRCS += cli/owner.c
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)

PROGS := $(BUILD)/letterbox-smtpd $(BUILD)/letterbox-pop3d $(BUILD)/letterbox

.PHONY: all test check check-asan check-valgrind check-arm64 test-bins unit fuzz fuzz-regress lint run clean deps
ifneq ($(SANITIZE)$(CROSS),)
all: $(PROGS)
else
all: $(PROGS) bin/letterbox-smtpd bin/letterbox-pop3d bin/letterbox
endif

# tests/faults' LD_PRELOAD shim, built for each build tree.
all: $(BUILD)/tests/faultshim.so

bin/%: $(BUILD)/%
	@mkdir -p bin
	rm -f $@; cp $< $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIBA): $(LIB_OBJS)
	rm -f $@; $(AR) rcs $@ $^

$(SMTPDA): $(SMTPD_OBJS)
	rm -f $@; $(AR) rcs $@ $^

$(POP3DA): $(POP3D_OBJS)
	rm -f $@; $(AR) rcs $@ $^

$(BUILD)/letterbox-smtpd: $(BUILD)/smtpd/main.o $(SMTPDA) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DEP_LIBS)

$(BUILD)/letterbox-pop3d: $(BUILD)/pop3d/main.o $(POP3DA) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DEP_LIBS)

$(BUILD)/letterbox: $(CLI_OBJS) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DEP_LIBS)

# Unit tests: one binary per tests/unit/test_*.c, linked against the real modules.
$(BUILD)/tests/%: tests/unit/%.c tests/unit/t.h $(SMTPDA) $(POP3DA) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< $(SMTPDA) $(POP3DA) $(LIBA) $(LDFLAGS_ALL) $(DEP_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do $$t; done

# tests/outbound/test_smtp_client.py's driver of relay/smtp_client.c (the test builds it).
$(BUILD)/tests/smtpsend: tests/outbound/smtpsend.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIBA) $(LDFLAGS_ALL) $(DEP_LIBS)

# tests/outbound/test_dkim.py's signer: config + message file in, signature fields + message out.
$(BUILD)/tests/dkimsign: tests/outbound/dkimsign.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIBA) $(LDFLAGS_ALL) $(DEP_LIBS)

# tests/outbound/test_dns_resolver.py's driver of relay/dns.c (the test builds it).
$(BUILD)/tests/dnsq: tests/outbound/dnsq.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIBA) $(LDFLAGS_ALL) $(DEP_LIBS)

# tests/outbound/test_dsn_format.py's writer: a DSN for a message file into a Maildir.
$(BUILD)/tests/dsnwrite: tests/outbound/dsnwrite.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIBA) $(LDFLAGS_ALL) $(DEP_LIBS)

# tests/faults' fault injector (LD_PRELOAD). Never sanitized: under ASan it is preloaded
# after libasan, whose interceptors then call it; not fortified, as it defines openat().
$(BUILD)/tests/faultshim.so: tests/faults/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) -fPIC -shared -Wl,-z,relro,-z,now -o $@ $< -ldl

# Fuzz harnesses linked to a replay main (dropbear's fuzzstandalone idea), so the corpus is
# replayed by every build, gcc included.
$(BUILD)/fuzz-regress/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(SMTPDA) $(POP3DA) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< tests/fuzz/replay_main.c $(SMTPDA) $(POP3DA) $(LIBA) $(LDFLAGS_ALL) $(DEP_LIBS)

fuzz-regress: $(FUZZ_REGRESS)
	@set -e; for f in $(FUZZ_REGRESS); do n=$$(basename $$f); $$f tests/fuzz/corpus/$$n; done

# libFuzzer builds (clang). The modules are compiled once with coverage into archives and
# each harness is linked against them, as fuzz-regress does: smtpd/ and pop3d/ both have a
# cmd_quit (and cmd_noop, cmd_rset), so their objects cannot all go into one link.
# UB aborts (-fno-sanitize-recover) so that libFuzzer sees it as a crash.
FUZZ_BUILD := build/fuzz
FUZZ_CFLAGS := $(CSTD) -g -O1 -I. -fsanitize=address,undefined -fno-sanitize-recover=all \
           $(DEP_CFLAGS) -MMD -MP
FUZZ_LIBA   := $(FUZZ_BUILD)/lib/libletterbox.a
FUZZ_SMTPDA := $(FUZZ_BUILD)/lib/libsmtpd.a
FUZZ_POP3DA := $(FUZZ_BUILD)/lib/libpop3d.a
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIBA): $(LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

$(FUZZ_SMTPDA): $(SMTPD_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

$(FUZZ_POP3DA): $(POP3D_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SMTPDA) $(FUZZ_POP3DA) $(FUZZ_LIBA)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_SMTPDA) $(FUZZ_POP3DA) $(FUZZ_LIBA) \
	  $(DEP_LIBS)

fuzz: $(FUZZ_BINS)

# variableScope is off: KNF declares locals at the top of the function (style.md §5),
# which that check flags everywhere by design.
lint:
	cppcheck --enable=warning,style,performance,portability --error-exitcode=1 --inline-suppr \
	  --std=c11 -D_GNU_SOURCE -I. --suppress=missingIncludeSystem --suppress=variableScope \
	  --quiet \
	  lib maildir auth smtpd pop3d cli dkim relay queue tests/unit tests/fuzz tests/outbound \
	  tests/faults

test check:
	scripts/install-deps.sh
	$(MAKE) all
	tests/run.sh

check-asan:
	$(MAKE) SANITIZE=address,undefined all
	LB_BUILD=build/asan tests/run.sh

# The daemons under valgrind (memcheck), every process they fork included (LB_VALGRIND in
# tests/conftest.py; suppressions in tests/valgrind.supp), on the release build (-g).
# A subset, to stay within minutes: SMTP in the clear, STARTTLS and implicit TLS,
# PIPELINING, DATA and bad input; submission with AUTH through PAM; the queue runner
# delivering to a sink and to a smarthost; POP3 with STLS, logins, RETR/TOP/DELE/QUIT
# and UIDL. Deselected: tests that wait for the server's own timers (idle and data
# timeouts), which valgrind's slowness would turn into a race, and the parametrized
# STARTTLS injection variants (test_starttls_injection_after_pipelined_group stays).
VG_PROTO := tests/proto/test_input_strictness.py
VG_SUB   := tests/outbound/test_submission.py
VG_POP3  := tests/pop3
VALGRIND_TESTS := tests/proto/test_smoke.py tests/proto/test_starttls.py \
  tests/proto/test_pipelining.py tests/proto/test_data.py \
  $(VG_PROTO)::test_protocol_junk $(VG_PROTO)::test_random_bytes_do_not_crash \
  $(VG_PROTO)::test_random_bytes_in_data $(VG_PROTO)::test_nul_in_command_is_500_552 \
  $(VG_PROTO)::test_one_megabyte_line_without_newline \
  $(VG_PROTO)::test_smuggling_fake_end_split_across_writes \
  $(VG_PROTO)::test_max_bad_commands_default_is_20 \
  $(VG_SUB)::test_pam_login $(VG_SUB)::test_smtplib_starttls_login \
  $(VG_SUB)::test_port_465_implicit_tls $(VG_SUB)::test_auth_login_exact_challenges \
  $(VG_SUB)::test_bad_base64 $(VG_SUB)::test_wrong_password \
  $(VG_SUB)::test_local_and_remote_recipient \
  tests/outbound/test_queue_delivery.py::test_delivered_at_first_attempt \
  tests/outbound/test_queue_delivery.py::test_smarthost_auth_login_over_starttls \
  $(VG_POP3)/test_pop3_smoke.py $(VG_POP3)/test_transaction.py::test_stat_list_uidl \
  $(VG_POP3)/test_transaction.py::test_dele_rset $(VG_POP3)/test_retr.py::test_top \
  $(VG_POP3)/test_retr.py::test_random_messages_match_reference \
  $(VG_POP3)/test_retr.py::test_pipelined_retr_of_a_large_message \
  $(VG_POP3)/test_capa_tls.py::test_stls_then_session \
  $(VG_POP3)/test_capa_tls.py::test_stls_failed_handshake \
  $(VG_POP3)/test_auth.py::test_user_pass_implicit_tls \
  $(VG_POP3)/test_auth.py::test_auth_plain_initial_response \
  $(VG_POP3)/test_auth.py::test_auth_login_challenges \
  $(VG_POP3)/test_maildrop.py::test_uidl_is_the_base_name_and_stable \
  $(VG_POP3)/test_maildrop.py::test_dropped_connection_changes_nothing
VALGRIND_SKIP := not timeout and not never_reads_its_replies and not command_injection

check-valgrind:
	$(MAKE) all
	LB_VALGRIND=1 /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider \
	  -k '$(VALGRIND_SKIP)' $(VALGRIND_TESTS)

# arm64 (Raspberry Pi 3/4/5, 64-bit OS): cross build with Debian's gcc-aarch64-linux-gnu
# and the multiarch libraries, then tests/arm64/run.sh: aarch64 ELF check, unit tests,
# fuzz corpus replay and an SMTP smoke test, all under qemu-user. Installs nothing: run
# scripts/install-deps-arm64.sh first.
check-arm64:
	$(MAKE) CROSS=aarch64-linux-gnu- all test-bins
	tests/arm64/run.sh

# The unit and fuzz-replay binaries, built but not run (check-arm64 runs them elsewhere).
test-bins: $(UNIT_BINS) $(FUZZ_REGRESS)

run:
	scripts/install-deps.sh
	$(MAKE) all
	scripts/dev-run.sh

# Installing. A staged install needs no root: make install DESTDIR=/tmp/stage PREFIX=/usr
# SYSCONFDIR stays /etc whatever PREFIX is: the programs read /etc/letterbox/letterbox.conf
# unless given -f, PAM reads only /etc/pam.d and fail2ban only /etc/fail2ban. The
# administrator's files (letterbox.conf, pam.d/letterbox, the fail2ban jail) are installed
# only where there is none yet, and uninstall removes them only while they are unchanged.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
INSTALL    ?= install
CONFDIR    := $(SYSCONFDIR)/letterbox
PROG_NAMES := letterbox-smtpd letterbox-pop3d letterbox
MAN8       := letterbox-smtpd.8 letterbox-pop3d.8 letterbox.8
UNITS      := letterbox-smtpd.service letterbox-pop3d.service
F2B        := $(SYSCONFDIR)/fail2ban
# source:target of each file the administrator owns once installed
ADMIN_FILES := etc/letterbox.conf:$(CONFDIR)/letterbox.conf \
  etc/pam.d/letterbox:$(SYSCONFDIR)/pam.d/letterbox \
  etc/fail2ban/jail.d/letterbox.conf:$(F2B)/jail.d/letterbox.conf

.PHONY: install uninstall
install: $(PROGS)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(CONFDIR) $(DESTDIR)$(SYSCONFDIR)/pam.d $(DESTDIR)$(SYSTEMDDIR) \
	  $(DESTDIR)$(F2B)/filter.d $(DESTDIR)$(F2B)/jail.d
	$(INSTALL) -m 0755 $(PROGS) $(DESTDIR)$(SBINDIR)
	$(INSTALL) -m 0644 $(MAN8:%=man/%) $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 man/letterbox.conf.5 $(DESTDIR)$(MANDIR)/man5
	$(INSTALL) -m 0644 etc/letterbox.conf $(DESTDIR)$(CONFDIR)/letterbox.conf.sample
	$(INSTALL) -m 0644 etc/fail2ban/filter.d/letterbox.conf $(DESTDIR)$(F2B)/filter.d
	set -e; for u in $(UNITS); do \
	  sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' etc/systemd/$$u \
	    > $(DESTDIR)$(SYSTEMDDIR)/$$u.new; \
	  chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$u.new; \
	  mv -f $(DESTDIR)$(SYSTEMDDIR)/$$u.new $(DESTDIR)$(SYSTEMDDIR)/$$u; \
	done
	@set -e; for p in $(ADMIN_FILES); do s=$${p%%:*}; t=$(DESTDIR)$${p#*:}; \
	  if [ -e "$$t" ]; then echo "install: kept $$t (it exists)"; \
	  else echo "$(INSTALL) -m 0644 $$s $$t"; $(INSTALL) -m 0644 "$$s" "$$t"; fi; \
	done

uninstall:
	rm -f $(PROG_NAMES:%=$(DESTDIR)$(SBINDIR)/%) $(MAN8:%=$(DESTDIR)$(MANDIR)/man8/%) \
	  $(DESTDIR)$(MANDIR)/man5/letterbox.conf.5 $(UNITS:%=$(DESTDIR)$(SYSTEMDDIR)/%) \
	  $(DESTDIR)$(CONFDIR)/letterbox.conf.sample $(DESTDIR)$(F2B)/filter.d/letterbox.conf
	@set -e; for p in $(ADMIN_FILES); do s=$${p%%:*}; t=$(DESTDIR)$${p#*:}; \
	  if [ -e "$$t" ] && ! cmp -s "$$s" "$$t"; then echo "uninstall: kept $$t (changed)"; \
	  else echo "rm -f $$t"; rm -f "$$t"; fi; \
	done
	rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true

deps:
	scripts/install-deps.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

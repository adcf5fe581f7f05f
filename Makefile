# Letterbox — one non-recursive GNU Makefile (style.md §5.10).
#   make                 build bin/letterbox-smtpd, bin/letterbox-pop3d, bin/letterbox
#   make SANITIZE=address,undefined   the same into build/asan/
#   make test            everything CI runs (see tests/run.sh)
#   make run             build and start a development server (scripts/dev-run.sh)
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
DEP_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEP_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lsodium) -ldb-5.3 -lpam -lresolv

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
LIB_SRCS += lib/fdpass.c
LIB_SRCS += lib/cmdtab.c
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
CLI_SRCS += cli/owner.c
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)

PROGS := $(BUILD)/letterbox-smtpd $(BUILD)/letterbox-pop3d $(BUILD)/letterbox

.PHONY: all test check check-asan unit fuzz fuzz-regress lint run clean deps
ifdef SANITIZE
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
	rm -f $@; ar rcs $@ $^

$(SMTPDA): $(SMTPD_OBJS)
	rm -f $@; ar rcs $@ $^

$(POP3DA): $(POP3D_OBJS)
	rm -f $@; ar rcs $@ $^

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

run:
	scripts/install-deps.sh
	$(MAKE) all
	scripts/dev-run.sh

deps:
	scripts/install-deps.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

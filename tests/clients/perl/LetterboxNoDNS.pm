package LetterboxNoDNS;
# Loaded into swaks by the client tests (perl -MLetterboxNoDNS). swaks looks up its own
# host name with gethostbyname() whatever --helo says; answer locally, so that a test
# never sends a DNS query off the machine (design.md: loopback only).
use strict;
use warnings;

BEGIN {
	my $lo = pack("C4", 127, 0, 0, 1);
	*CORE::GLOBAL::gethostbyname = sub {
		return wantarray ? ("client.example.net", "", 2, 4, $lo) : $lo;
	};
	*CORE::GLOBAL::gethostbyaddr = sub {
		return wantarray ? ("client.example.net", "", 2, 4, $lo) : "client.example.net";
	};
}

1;

#!/usr/bin/env bash
# perl.sh: a hash-heavy perl script on libmalloc.
source "$(dirname "$0")/common.sh"
need perl

cat >"$WORK/work.pl" <<'PLEOF'
use strict; use warnings;
my %h; my %count;
for my $i (1 .. 200000) {
  my $k = join("-", $i % 7919, $i % 104729, "x" x ($i % 13));
  $h{$k} .= chr(65 + $i % 26);
  $count{length $k}++;
}
my @keys = sort keys %h;
print scalar(@keys), " keys, first $keys[0], last $keys[-1]\n";
print join(",", map { "$_=$count{$_}" } sort { $a <=> $b } keys %count), "\n";
my %inv = reverse %h; print scalar(keys %inv), " distinct values\n";
my @words = map { sprintf("%x", $_ * 2654435761 % 4294967296) } 1 .. 100000;
my @sorted = sort { length($a) <=> length($b) or $a cmp $b } @words;
print "@sorted[0..4] | @sorted[-3..-1]\n";
my $text = join(" ", @words); my $n = () = $text =~ /\b[a-f]+\b/g; print "$n letter-only words\n";
delete $h{$_} for grep { /7/ } @keys; print scalar(keys %h), " after delete\n";
PLEOF

compare_runs perl perl "$WORK/work.pl"

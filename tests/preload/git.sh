#!/usr/bin/env bash
# git.sh: git on libmalloc: init a repository, commit files over several
# commits, branch and merge, log, gc, fsck. Dates and identities are fixed,
# so the object ids are the same in both runs.
source "$(dirname "$0")/common.sh"
need git

cat >"$WORK/work.sh" <<'SHEOF'
set -euo pipefail
repo=$(mktemp -d "$WORK_DIR/repo.XXXXXX")
cd "$repo"
export HOME=$repo GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=Test GIT_AUTHOR_EMAIL=t@example.com
export GIT_COMMITTER_NAME=Test GIT_COMMITTER_EMAIL=t@example.com
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
git init -q -b main .
for c in $(seq 1 15); do
  awk -v c="$c" 'BEGIN { for (f = 1; f <= 20; f++) for (i = c * f; i <= c * f + 200; i++)
    print "line", c, f, i > ("file" f ".txt") }'
  mkdir -p "dir$((c % 4))" && seq 1 $((c * 100)) >"dir$((c % 4))/data.txt"
  git add -A && git commit -q -m "commit $c"
done
git checkout -q -b side HEAD~5
echo side >side.txt && git add side.txt && git commit -q -m side
git checkout -q main
git merge -q --no-edit side
git log --format='%H %s' | head -20
git rev-list --count HEAD
git diff --stat HEAD~10 HEAD | tail -1
git gc -q
git count-objects -v | grep -E '^(count|in-pack|packs)'
git fsck --no-progress 2>&1
git log -p --format=%s HEAD~3..HEAD | sha256sum
cd / && rm -rf "$repo"
SHEOF

compare_runs git env WORK_DIR="$WORK" bash "$WORK/work.sh"

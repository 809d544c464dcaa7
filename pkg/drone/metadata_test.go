package drone

import (
	"reflect"
	"testing"
	"time"
)

func lookupMap(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// drone1 is what drone-runner-docker gives a tag build's plugin step.
var drone1 = map[string]string{
	"CI": "true", "DRONE": "true",
	"DRONE_SYSTEM_PROTO": "https", "DRONE_SYSTEM_HOST": "drone.company.com", "DRONE_SYSTEM_HOSTNAME": "drone.company.com", "DRONE_SYSTEM_VERSION": "2.26.0",
	"DRONE_REPO": "acme/web", "DRONE_REPO_OWNER": "acme", "DRONE_REPO_NAMESPACE": "acme", "DRONE_REPO_NAME": "web",
	"DRONE_REPO_LINK": "https://github.com/acme/web", "DRONE_REPO_BRANCH": "main", "DRONE_REPO_SCM": "git",
	"DRONE_REPO_VISIBILITY": "private", "DRONE_REPO_PRIVATE": "true",
	"DRONE_REMOTE_URL": "https://github.com/acme/web.git", "DRONE_GIT_HTTP_URL": "https://github.com/acme/web.git", "DRONE_GIT_SSH_URL": "git@github.com:acme/web.git",
	"DRONE_BRANCH": "main", "DRONE_COMMIT_BRANCH": "main", "DRONE_SOURCE_BRANCH": "feature", "DRONE_TARGET_BRANCH": "main",
	"DRONE_COMMIT": "abc123", "DRONE_COMMIT_SHA": "abc123", "DRONE_COMMIT_AFTER": "abc123", "DRONE_COMMIT_BEFORE": "000111",
	"DRONE_COMMIT_REF": "refs/tags/v1.2.3", "DRONE_COMMIT_LINK": "https://github.com/acme/web/commit/abc123",
	"DRONE_COMMIT_MESSAGE": "Fix the thing\n\nLonger explanation\nacross lines.\n",
	"DRONE_COMMIT_AUTHOR":  "octocat", "DRONE_COMMIT_AUTHOR_NAME": "The Octocat", "DRONE_COMMIT_AUTHOR_EMAIL": "octo@example.com", "DRONE_COMMIT_AUTHOR_AVATAR": "https://avatars/octo",
	"DRONE_BUILD_NUMBER": "42", "DRONE_BUILD_PARENT": "41", "DRONE_BUILD_EVENT": "tag", "DRONE_BUILD_ACTION": "",
	"DRONE_BUILD_CREATED": "1700000000", "DRONE_BUILD_STARTED": "1700000010", "DRONE_BUILD_FINISHED": "1700000020",
	"DRONE_BUILD_LINK": "https://drone.company.com/acme/web/42", "DRONE_DEPLOY_TO": "",
	"DRONE_BUILD_STATUS": "failure", "DRONE_FAILED_STAGES": "default", "DRONE_FAILED_STEPS": "test, lint",
	"DRONE_STAGE_KIND": "pipeline", "DRONE_STAGE_TYPE": "docker", "DRONE_STAGE_NAME": "default", "DRONE_STAGE_NUMBER": "1",
	"DRONE_STAGE_MACHINE": "runner-1", "DRONE_STAGE_OS": "linux", "DRONE_STAGE_ARCH": "amd64", "DRONE_STAGE_VARIANT": "",
	"DRONE_STAGE_STATUS": "failure", "DRONE_STAGE_STARTED": "1700000011", "DRONE_STAGE_FINISHED": "1700000019", "DRONE_STAGE_DEPENDS_ON": "build,test",
	"DRONE_STEP_NAME": "notify", "DRONE_STEP_NUMBER": "5",
	"DRONE_TAG": "v1.2.3", "DRONE_WORKSPACE": "/drone/src", "DRONE_CARD_PATH": "/dev/stdout",
}

// drone08 is a Drone 0.8 pull request build: 0.8 names, CI_* copies beside them.
var drone08 = map[string]string{
	"CI": "drone", "DRONE": "true",
	"DRONE_ARCH": "linux/arm64", "DRONE_REPO": "acme/web", "DRONE_REPO_OWNER": "acme", "DRONE_REPO_NAME": "web",
	"DRONE_REPO_SCM": "git", "DRONE_REPO_LINK": "https://github.com/acme/web", "DRONE_REPO_BRANCH": "master", "DRONE_REPO_PRIVATE": "false",
	"DRONE_REMOTE_URL": "https://github.com/acme/web.git",
	"DRONE_COMMIT_SHA": "def456", "DRONE_COMMIT": "def456", "DRONE_COMMIT_REF": "refs/pull/7/head", "DRONE_COMMIT_BRANCH": "master", "DRONE_BRANCH": "master",
	"DRONE_COMMIT_LINK": "https://github.com/acme/web/pull/7", "DRONE_COMMIT_MESSAGE": "Single line message",
	"DRONE_COMMIT_AUTHOR": "octocat", "DRONE_COMMIT_AUTHOR_EMAIL": "octo@example.com", "DRONE_COMMIT_AUTHOR_AVATAR": "https://avatars/octo",
	"DRONE_BUILD_NUMBER": "8", "DRONE_PARENT_BUILD_NUMBER": "6", "DRONE_BUILD_EVENT": "pull_request", "DRONE_BUILD_STATUS": "success",
	"DRONE_BUILD_LINK": "http://drone.company.com/acme/web/8", "DRONE_BUILD_CREATED": "1500000000", "DRONE_BUILD_STARTED": "1500000005", "DRONE_BUILD_FINISHED": "0",
	"DRONE_JOB_NUMBER": "2", "DRONE_JOB_STATUS": "running", "DRONE_JOB_STARTED": "1500000006",
	"DRONE_PULL_REQUEST": "7", "DRONE_DEPLOY_TO": "",
	"CI_REPO": "acme/web", "CI_REPO_NAME": "acme/web", "CI_BUILD_NUMBER": "8", "CI_BUILD_STATUS": "success", "CI_COMMIT_SHA": "def456",
	"CI_COMMIT_AUTHOR": "octocat", "CI_COMMIT_AUTHOR_NAME": "octocat", "CI_SYSTEM_LINK": "http://drone.company.com", "CI_WORKSPACE": "/drone/src/github.com/acme/web",
}

// woodpecker is a Woodpecker 2.x/3.x push build: CI_* only.
var woodpecker = map[string]string{
	"CI":      "woodpecker",
	"CI_REPO": "acme/web", "CI_REPO_OWNER": "acme", "CI_REPO_NAME": "web", "CI_REPO_URL": "https://codeberg.org/acme/web",
	"CI_REPO_CLONE_URL": "https://codeberg.org/acme/web.git", "CI_REPO_CLONE_SSH_URL": "git@codeberg.org:acme/web.git",
	"CI_REPO_DEFAULT_BRANCH": "main", "CI_REPO_PRIVATE": "true", "CI_REPO_SCM": "git",
	"CI_COMMIT_SHA": "987fed", "CI_PREV_COMMIT_SHA": "654cba", "CI_COMMIT_REF": "refs/heads/main", "CI_COMMIT_BRANCH": "main",
	"CI_COMMIT_SOURCE_BRANCH": "", "CI_COMMIT_TARGET_BRANCH": "", "CI_COMMIT_TAG": "", "CI_COMMIT_PULL_REQUEST": "",
	"CI_COMMIT_MESSAGE": "Title line\r\n\r\nBody from a Windows editor\r\n", "CI_COMMIT_AUTHOR": "wood", "CI_COMMIT_AUTHOR_EMAIL": "wood@example.com",
	"CI_COMMIT_AUTHOR_AVATAR": "https://avatars/wood", "CI_PIPELINE_FORGE_URL": "https://codeberg.org/acme/web/commit/987fed",
	"CI_PIPELINE_NUMBER": "101", "CI_PIPELINE_PARENT": "0", "CI_PIPELINE_EVENT": "push", "CI_PIPELINE_URL": "https://ci.example.org/repos/3/pipeline/101",
	"CI_PIPELINE_DEPLOY_TARGET": "", "CI_PIPELINE_STATUS": "failure", "CI_PIPELINE_CREATED": "1800000000", "CI_PIPELINE_STARTED": "1800000003",
	"CI_WORKFLOW_NAME": "build", "CI_WORKFLOW_NUMBER": "1", "CI_STEP_NAME": "notify", "CI_STEP_NUMBER": "3",
	"CI_SYSTEM_HOST": "ci.example.org", "CI_SYSTEM_URL": "https://ci.example.org", "CI_SYSTEM_VERSION": "3.1.0", "CI_SYSTEM_PLATFORM": "linux/amd64",
	"CI_MACHINE": "agent-2", "CI_WORKSPACE": "/woodpecker/src/codeberg.org/acme/web",
}

func unix(n int64) time.Time { return time.Unix(n, 0).UTC() }

func TestFromEnv(t *testing.T) {
	withCompat := map[string]string{}
	for k, v := range woodpecker {
		withCompat[k] = v
	}
	// Woodpecker's Drone compatibility layer on plugin steps: always success.
	withCompat["DRONE_BUILD_STATUS"] = "success"
	withCompat["DRONE_REPO"] = "acme/web"

	tests := []struct {
		name    string
		env     map[string]string
		want    Metadata
		wantTag string
	}{
		{
			name: "drone 1.x", env: drone1, wantTag: "1.2.3",
			want: Metadata{
				System: System{Proto: "https", Host: "drone.company.com", Hostname: "drone.company.com", Version: "2.26.0", Link: "https://drone.company.com"},
				Repo: Repo{Slug: "acme/web", Owner: "acme", Name: "web", Link: "https://github.com/acme/web", DefaultBranch: "main", Private: true,
					Visibility: "private", SCM: "git", CloneURL: "https://github.com/acme/web.git", SSHURL: "git@github.com:acme/web.git"},
				Build: Build{Number: 42, Parent: 41, Event: "tag", Status: "failure", Link: "https://drone.company.com/acme/web/42",
					Created: unix(1700000000), Started: unix(1700000010), Finished: unix(1700000020),
					FailedStages: []string{"default"}, FailedSteps: []string{"test", "lint"}},
				Commit: Commit{SHA: "abc123", Before: "000111", Ref: "refs/tags/v1.2.3", Branch: "main", SourceBranch: "feature", TargetBranch: "main",
					Link:    "https://github.com/acme/web/commit/abc123",
					Message: Message{Title: "Fix the thing", Body: "Longer explanation\nacross lines."},
					Author:  Author{Username: "octocat", Name: "The Octocat", Email: "octo@example.com", Avatar: "https://avatars/octo"}},
				Stage: Stage{Kind: "pipeline", Type: "docker", Name: "default", Number: 1, Machine: "runner-1", OS: "linux", Arch: "amd64",
					Status: "failure", Started: unix(1700000011), Finished: unix(1700000019), DependsOn: []string{"build", "test"}},
				Step:      Step{Name: "notify", Number: 5},
				Tag:       Tag{Name: "v1.2.3"},
				Workspace: "/drone/src", CardPath: "/dev/stdout",
			},
		},
		{
			name: "drone 0.8", env: drone08,
			want: Metadata{
				System: System{Link: "http://drone.company.com"},
				Repo: Repo{Slug: "acme/web", Owner: "acme", Name: "web", Link: "https://github.com/acme/web", DefaultBranch: "master",
					SCM: "git", CloneURL: "https://github.com/acme/web.git"},
				Build: Build{Number: 8, Parent: 6, Event: "pull_request", Status: "success", Link: "http://drone.company.com/acme/web/8",
					Created: unix(1500000000), Started: unix(1500000005)},
				Commit: Commit{SHA: "def456", Ref: "refs/pull/7/head", Branch: "master", Link: "https://github.com/acme/web/pull/7",
					Message: Message{Title: "Single line message"},
					Author:  Author{Username: "octocat", Name: "octocat", Email: "octo@example.com", Avatar: "https://avatars/octo"}},
				Stage:       Stage{Number: 2, OS: "linux", Arch: "arm64", Status: "running", Started: unix(1500000006)},
				PullRequest: 7,
				Workspace:   "/drone/src/github.com/acme/web",
			},
		},
		{
			name: "woodpecker", env: woodpecker,
			want: Metadata{
				System: System{Host: "ci.example.org", Version: "3.1.0", Link: "https://ci.example.org"},
				Repo: Repo{Slug: "acme/web", Owner: "acme", Name: "web", Link: "https://codeberg.org/acme/web", DefaultBranch: "main", Private: true,
					SCM: "git", CloneURL: "https://codeberg.org/acme/web.git", SSHURL: "git@codeberg.org:acme/web.git"},
				Build: Build{Number: 101, Event: "push", Status: "failure", Link: "https://ci.example.org/repos/3/pipeline/101",
					Created: unix(1800000000), Started: unix(1800000003)},
				Commit: Commit{SHA: "987fed", Before: "654cba", Ref: "refs/heads/main", Branch: "main", Link: "https://codeberg.org/acme/web/commit/987fed",
					Message: Message{Title: "Title line", Body: "Body from a Windows editor"},
					Author:  Author{Username: "wood", Name: "wood", Email: "wood@example.com", Avatar: "https://avatars/wood"}},
				Stage:     Stage{Name: "build", Number: 1, Machine: "agent-2", OS: "linux", Arch: "amd64"},
				Step:      Step{Name: "notify", Number: 3},
				Workspace: "/woodpecker/src/codeberg.org/acme/web",
			},
		},
		{
			name: "woodpecker with the drone layer", env: withCompat,
			want: func() Metadata {
				m := FromEnv(lookupMap(woodpecker))
				m.Build.Status = "failure" // CI_PIPELINE_STATUS, not the layer's constant success
				return m
			}(),
		},
		{name: "empty", env: map[string]string{}, want: Metadata{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromEnv(lookupMap(tt.env))
			gotVer := got.Tag.SemVer
			got.Tag.SemVer, tt.want.Tag.SemVer = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FromEnv mismatch\n got: %+v\nwant: %+v", got, tt.want)
			}
			switch {
			case tt.wantTag == "" && gotVer != nil:
				t.Fatalf("SemVer = %v, want none", gotVer)
			case tt.wantTag != "" && (gotVer == nil || gotVer.String() != tt.wantTag):
				t.Fatalf("SemVer = %v, want %s", gotVer, tt.wantTag)
			}
		})
	}
}

func TestFromOSReadsTheProcessEnvironment(t *testing.T) {
	for _, k := range []string{"DRONE_REPO", "DRONE_BUILD_NUMBER", "CI", "CI_PIPELINE_STATUS", "DRONE_BUILD_STATUS"} {
		t.Setenv(k, "")
	}
	t.Setenv("CI_REPO", "acme/api")
	t.Setenv("CI_PIPELINE_NUMBER", "9")
	m := FromOS()
	if m.Repo.Slug != "acme/api" || m.Build.Number != 9 {
		t.Fatalf("FromOS: slug %q number %d (empty DRONE_* must fall back to CI_*)", m.Repo.Slug, m.Build.Number)
	}
}

func TestSlugAndLinksFromParts(t *testing.T) {
	m := FromEnv(lookupMap(map[string]string{
		"DRONE_REPO_NAMESPACE": "acme", "DRONE_REPO_NAME": "web", "DRONE_SYSTEM_PROTO": "http", "DRONE_SYSTEM_HOST": "ci:8080",
	}))
	if m.Repo.Slug != "acme/web" || m.Repo.Owner != "acme" || m.System.Link != "http://ci:8080" {
		t.Fatalf("slug %q owner %q link %q", m.Repo.Slug, m.Repo.Owner, m.System.Link)
	}
}

func TestBadNumbersAndTimesAreZero(t *testing.T) {
	m := FromEnv(lookupMap(map[string]string{
		"DRONE_BUILD_NUMBER": "forty", "DRONE_BUILD_CREATED": "yesterday", "DRONE_BUILD_STARTED": "-5", "DRONE_REPO_PRIVATE": "maybe",
		"DRONE_FAILED_STEPS": " , ,",
	}))
	if m.Build.Number != 0 || !m.Build.Created.IsZero() || !m.Build.Started.IsZero() || m.Repo.Private || m.Build.FailedSteps != nil {
		t.Fatalf("bad values not zero: %+v %+v", m.Build, m.Repo)
	}
}

func TestTagFromRef(t *testing.T) {
	tests := []struct {
		env     map[string]string
		name    string
		version string
	}{
		{map[string]string{"DRONE_TAG": "v1.2.3"}, "v1.2.3", "1.2.3"},
		{map[string]string{"CI_COMMIT_TAG": "0.9.0"}, "0.9.0", "0.9.0"},
		{map[string]string{"DRONE_COMMIT_REF": "refs/tags/1.0.0-rc.1"}, "1.0.0-rc.1", "1.0.0-rc.1"},
		{map[string]string{"CI_COMMIT_REF": "refs/tags/not-a-version"}, "not-a-version", ""},
		{map[string]string{"DRONE_COMMIT_REF": "refs/heads/main"}, "", ""},
		{map[string]string{}, "", ""},
	}
	for _, tt := range tests {
		tag := FromEnv(lookupMap(tt.env)).Tag
		if tag.Name != tt.name {
			t.Errorf("%v: tag %q, want %q", tt.env, tag.Name, tt.name)
		}
		if got := verString(tag); got != tt.version {
			t.Errorf("%v: semver %q, want %q", tt.env, got, tt.version)
		}
	}
}

func verString(t Tag) string {
	if t.SemVer == nil {
		return ""
	}
	return t.SemVer.String()
}

func TestParseSemVer(t *testing.T) {
	tests := []struct {
		in                  string
		ok                  bool
		major, minor, patch uint64
		pre, meta           string
	}{
		{"v1.2.3", true, 1, 2, 3, "", ""},
		{"0.9.0", true, 0, 9, 0, "", ""},
		{"1.0.0-rc.1", true, 1, 0, 0, "rc.1", ""},
		{"v2.0.0+build.7", true, 2, 0, 0, "", "build.7"},
		{"10.20.30-alpha.beta+exp.sha.5114f85", true, 10, 20, 30, "alpha.beta", "exp.sha.5114f85"},
		{"not-a-version", false, 0, 0, 0, "", ""},
		{"1.2", false, 0, 0, 0, "", ""},
		{"v1", false, 0, 0, 0, "", ""},
		{"01.2.3", false, 0, 0, 0, "", ""},
		{"1.2.3.4", false, 0, 0, 0, "", ""},
		{"vv1.2.3", false, 0, 0, 0, "", ""},
		{"", false, 0, 0, 0, "", ""},
	}
	for _, tt := range tests {
		v := ParseSemVer(tt.in)
		if (v != nil) != tt.ok {
			t.Errorf("ParseSemVer(%q) = %v, want ok=%v", tt.in, v, tt.ok)
			continue
		}
		if v == nil {
			continue
		}
		if v.Major() != tt.major || v.Minor() != tt.minor || v.Patch() != tt.patch || v.Prerelease() != tt.pre || v.Metadata() != tt.meta {
			t.Errorf("ParseSemVer(%q) = %d.%d.%d-%s+%s", tt.in, v.Major(), v.Minor(), v.Patch(), v.Prerelease(), v.Metadata())
		}
	}
}

func TestCommitMessageSplit(t *testing.T) {
	tests := []struct {
		in, title, body string
	}{
		{"", "", ""},
		{"one line", "one line", ""},
		{"one line\n", "one line", ""},
		{"title\n\nbody", "title", "body"},
		{"title\nbody without blank line", "title", "body without blank line"},
		{"title  \n\n\nbody 1\n\nbody 2\n\n", "title", "body 1\n\nbody 2"},
		{"title\r\n\r\nbody\r\nmore\r\n", "title", "body\nmore"},
		{"\n\ntitle after blank lines\n\nbody", "title after blank lines", "body"},
		{"标题：修复\n\n正文", "标题：修复", "正文"},
	}
	for _, tt := range tests {
		m := FromEnv(lookupMap(map[string]string{"DRONE_COMMIT_MESSAGE": tt.in})).Commit.Message
		if m.Title != tt.title || m.Body != tt.body {
			t.Errorf("split(%q) = %q / %q, want %q / %q", tt.in, m.Title, m.Body, tt.title, tt.body)
		}
	}
	if s := (Message{Title: "t", Body: "b"}).String(); s != "t\n\nb" {
		t.Errorf("String() = %q", s)
	}
	if s := (Message{Title: "t"}).String(); s != "t" {
		t.Errorf("String() = %q", s)
	}
}

func TestAuthorString(t *testing.T) {
	if s := (Author{Username: "u", Name: "Full Name"}).String(); s != "Full Name" {
		t.Errorf("%q", s)
	}
	if s := (Author{Username: "u"}).String(); s != "u" {
		t.Errorf("%q", s)
	}
}

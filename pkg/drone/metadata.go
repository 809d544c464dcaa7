package drone

import (
	"strings"
	"time"
)

// Metadata is everything a plugin knows about the build it runs in.
type Metadata struct {
	System System
	Repo   Repo
	Build  Build
	Commit Commit
	Stage  Stage
	Step   Step
	// Tag is set for tag events, without refs/tags/.
	Tag Tag
	// PullRequest is the pull request number, 0 when not a pull request.
	PullRequest int
	// Workspace is the working directory of the step (DRONE_WORKSPACE).
	Workspace string
	// CardPath is where a step may write a Drone card (DRONE_CARD_PATH).
	CardPath string
}

// System describes the CI server.
type System struct {
	Proto    string
	Host     string
	Hostname string
	Version  string
	// Link is the server's base URL.
	Link string
}

func systemFrom(e env) System {
	s := System{
		Proto:    e.str("DRONE_SYSTEM_PROTO"),
		Host:     e.str("DRONE_SYSTEM_HOST", "CI_SYSTEM_HOST"),
		Hostname: e.str("DRONE_SYSTEM_HOSTNAME", "CI_SYSTEM_HOSTNAME"),
		Version:  e.str("DRONE_SYSTEM_VERSION", "CI_SYSTEM_VERSION"),
	}
	if s.Proto != "" && s.Host != "" {
		s.Link = s.Proto + "://" + s.Host
	} else {
		// Woodpecker's CI_SYSTEM_URL; Drone 0.8's CI_SYSTEM_LINK (copied to DRONE_*).
		s.Link = e.str("CI_SYSTEM_URL", "DRONE_SYSTEM_LINK", "CI_SYSTEM_LINK")
	}
	return s
}

// Repo describes the repository being built.
type Repo struct {
	// Slug is owner/name.
	Slug  string
	Owner string
	Name  string
	// Link is the repository's web page.
	Link string
	// DefaultBranch is the repository's default branch (DRONE_REPO_BRANCH).
	DefaultBranch string
	Private       bool
	Visibility    string
	SCM           string
	// CloneURL is the HTTP clone URL.
	CloneURL string
	SSHURL   string
}

func repoFrom(e env) Repo {
	r := Repo{
		Slug:          e.str("DRONE_REPO", "CI_REPO"),
		Owner:         e.str("DRONE_REPO_OWNER", "DRONE_REPO_NAMESPACE", "CI_REPO_OWNER"),
		Name:          e.str("DRONE_REPO_NAME", "CI_REPO_NAME"),
		Link:          e.str("DRONE_REPO_LINK", "CI_REPO_URL", "CI_REPO_LINK"),
		DefaultBranch: e.str("DRONE_REPO_BRANCH", "CI_REPO_DEFAULT_BRANCH"),
		Private:       e.boolean("DRONE_REPO_PRIVATE", "CI_REPO_PRIVATE"),
		Visibility:    e.str("DRONE_REPO_VISIBILITY", "CI_REPO_VISIBILITY"),
		SCM:           e.str("DRONE_REPO_SCM", "CI_REPO_SCM"),
		CloneURL:      e.str("DRONE_GIT_HTTP_URL", "DRONE_REMOTE_URL", "CI_REPO_CLONE_URL"),
		SSHURL:        e.str("DRONE_GIT_SSH_URL", "CI_REPO_CLONE_SSH_URL"),
	}
	if r.Slug == "" && r.Owner != "" && r.Name != "" {
		r.Slug = r.Owner + "/" + r.Name
	}
	return r
}

// Build describes the build (Woodpecker: the pipeline).
type Build struct {
	Number int
	Parent int
	// Event is push, pull_request, tag, promote, rollback, cron, custom.
	Event  string
	Action string
	// Status is success or failure as the CI knows it when this step starts.
	Status   string
	Link     string
	Created  time.Time
	Started  time.Time
	Finished time.Time
	// DeployTo is the deployment target of promote/rollback events.
	DeployTo string
	// FailedStages and FailedSteps name what failed so far.
	FailedStages []string
	FailedSteps  []string
}

func buildFrom(e env) Build {
	status := e.str("DRONE_BUILD_STATUS", "CI_PIPELINE_STATUS", "CI_BUILD_STATUS")
	if e.woodpecker() {
		// Woodpecker's Drone layer sets DRONE_BUILD_STATUS=success whatever
		// happened; CI_PIPELINE_STATUS is its own (run-time) value.
		status = e.str("CI_PIPELINE_STATUS", "DRONE_BUILD_STATUS")
	}
	return Build{
		// Drone 0.8 names (DRONE_PARENT_BUILD_NUMBER) come after 1.x's.
		Number: e.integer("DRONE_BUILD_NUMBER", "CI_PIPELINE_NUMBER", "CI_BUILD_NUMBER"),
		Parent: e.integer("DRONE_BUILD_PARENT", "DRONE_PARENT_BUILD_NUMBER", "CI_PIPELINE_PARENT"),
		Event:  e.str("DRONE_BUILD_EVENT", "CI_PIPELINE_EVENT", "CI_BUILD_EVENT"),
		Action: e.str("DRONE_BUILD_ACTION"),
		Status: status,
		Link:   e.str("DRONE_BUILD_LINK", "CI_PIPELINE_URL", "CI_BUILD_LINK"),
		// Woodpecker has no finished time while the pipeline runs.
		Created:      e.unixTime("DRONE_BUILD_CREATED", "CI_PIPELINE_CREATED"),
		Started:      e.unixTime("DRONE_BUILD_STARTED", "CI_PIPELINE_STARTED"),
		Finished:     e.unixTime("DRONE_BUILD_FINISHED"),
		DeployTo:     e.str("DRONE_DEPLOY_TO", "CI_PIPELINE_DEPLOY_TARGET"),
		FailedStages: e.list("DRONE_FAILED_STAGES"),
		FailedSteps:  e.list("DRONE_FAILED_STEPS"),
	}
}

// Commit describes the commit being built.
type Commit struct {
	SHA    string
	Before string
	Ref    string
	// Branch is the target branch (DRONE_BRANCH).
	Branch       string
	SourceBranch string
	TargetBranch string
	Link         string
	Message      Message
	Author       Author
}

// Message is a commit message split into its first line and the rest.
type Message struct {
	Title string
	Body  string
}

// String returns the whole message.
func (m Message) String() string {
	if m.Body == "" {
		return m.Title
	}
	return m.Title + "\n\n" + m.Body
}

// Author is the commit's author.
type Author struct {
	// Username is the forge login (DRONE_COMMIT_AUTHOR).
	Username string
	Name     string
	Email    string
	Avatar   string
}

// String returns the author's display name.
func (a Author) String() string {
	if a.Name != "" {
		return a.Name
	}
	return a.Username
}

func commitFrom(e env) Commit {
	return Commit{
		SHA:          e.str("DRONE_COMMIT_SHA", "DRONE_COMMIT", "CI_COMMIT_SHA"),
		Before:       e.str("DRONE_COMMIT_BEFORE", "CI_PREV_COMMIT_SHA"),
		Ref:          e.str("DRONE_COMMIT_REF", "CI_COMMIT_REF"),
		Branch:       e.str("DRONE_BRANCH", "DRONE_COMMIT_BRANCH", "CI_COMMIT_BRANCH"),
		SourceBranch: e.str("DRONE_SOURCE_BRANCH", "CI_COMMIT_SOURCE_BRANCH"),
		TargetBranch: e.str("DRONE_TARGET_BRANCH", "CI_COMMIT_TARGET_BRANCH"),
		Link:         e.str("DRONE_COMMIT_LINK", "CI_PIPELINE_FORGE_URL", "CI_COMMIT_URL"),
		Message:      splitMessage(e.str("DRONE_COMMIT_MESSAGE", "CI_COMMIT_MESSAGE")),
		Author: Author{
			Username: e.str("DRONE_COMMIT_AUTHOR", "CI_COMMIT_AUTHOR"),
			Name:     e.str("DRONE_COMMIT_AUTHOR_NAME", "CI_COMMIT_AUTHOR_NAME", "CI_COMMIT_AUTHOR"),
			Email:    e.str("DRONE_COMMIT_AUTHOR_EMAIL", "CI_COMMIT_AUTHOR_EMAIL"),
			Avatar:   e.str("DRONE_COMMIT_AUTHOR_AVATAR", "CI_COMMIT_AUTHOR_AVATAR", "CI_PIPELINE_AVATAR"),
		},
	}
}

// Stage describes the stage (Woodpecker: workflow).
type Stage struct {
	Kind      string
	Type      string
	Name      string
	Number    int
	Machine   string
	OS        string
	Arch      string
	Variant   string
	Status    string
	Started   time.Time
	Finished  time.Time
	DependsOn []string
}

func stageFrom(e env) Stage {
	// Woodpecker (CI_SYSTEM_PLATFORM, earlier CI_SYSTEM_ARCH) and Drone 0.8
	// (DRONE_ARCH) give the platform as os/arch.
	platOS, platArch, _ := strings.Cut(e.str("CI_SYSTEM_PLATFORM", "CI_SYSTEM_ARCH", "DRONE_ARCH"), "/")
	s := Stage{
		Kind: e.str("DRONE_STAGE_KIND"),
		Type: e.str("DRONE_STAGE_TYPE"),
		Name: e.str("DRONE_STAGE_NAME", "CI_WORKFLOW_NAME"),
		// Drone 0.8 called a stage a job.
		Number:    e.integer("DRONE_STAGE_NUMBER", "DRONE_JOB_NUMBER", "CI_WORKFLOW_NUMBER"),
		Machine:   e.str("DRONE_STAGE_MACHINE", "CI_MACHINE"),
		OS:        e.str("DRONE_STAGE_OS"),
		Arch:      e.str("DRONE_STAGE_ARCH"),
		Variant:   e.str("DRONE_STAGE_VARIANT"),
		Status:    e.str("DRONE_STAGE_STATUS", "DRONE_JOB_STATUS"),
		Started:   e.unixTime("DRONE_STAGE_STARTED", "DRONE_JOB_STARTED"),
		Finished:  e.unixTime("DRONE_STAGE_FINISHED", "DRONE_JOB_FINISHED"),
		DependsOn: e.list("DRONE_STAGE_DEPENDS_ON"),
	}
	if s.OS == "" {
		s.OS = platOS
	}
	if s.Arch == "" {
		s.Arch = platArch
	}
	return s
}

// Step describes the running step.
type Step struct {
	Name   string
	Number int
}

func stepFrom(e env) Step {
	return Step{
		Name:   e.str("DRONE_STEP_NAME", "CI_STEP_NAME"),
		Number: e.integer("DRONE_STEP_NUMBER", "CI_STEP_NUMBER"),
	}
}

package main

import (
	"fmt"
	"path/filepath"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// clientSession is the remote context of a build whose context and
// Dockerfile the daemon reads through the session (the docker CLI's
// BuildKit path before buildx).
const clientSession = "client-session"

// sessionContext serves the build context and the Dockerfile's directory
// over the session, as the docker CLI did: BuildKit applies .dockerignore
// itself (the frontend reads it from the context and sends the excludes
// back), files are owned by 0:0, and the Dockerfile travels apart, so it
// is never part of COPY . unless the context holds it. It returns the
// Dockerfile's name inside its directory.
func sessionContext(contextDir, dockerfile string) (session.Attachable, string, error) {
	excludes, err := readIgnore(contextDir, "")
	if err != nil {
		return nil, "", err
	}
	ctxFS, err := fsutil.NewFS(contextDir)
	if err != nil {
		return nil, "", fmt.Errorf("build context %s: %w", contextDir, err)
	}
	if ctxFS, err = fsutil.NewFilterFS(ctxFS, &fsutil.FilterOpt{ExcludePatterns: excludes, Map: rootOwned}); err != nil {
		return nil, "", fmt.Errorf("build context %s: %w", contextDir, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(dockerfile))
	if err != nil {
		return nil, "", fmt.Errorf("dockerfile %s: %w", dockerfile, err)
	}
	name := filepath.Base(dockerfile)
	if dfFS, err = fsutil.NewFilterFS(dfFS, &fsutil.FilterOpt{IncludePatterns: []string{name, name + ".dockerignore"}}); err != nil {
		return nil, "", fmt.Errorf("dockerfile %s: %w", dockerfile, err)
	}
	return filesync.NewFSSyncProvider(filesync.StaticDirSource{"context": ctxFS, "dockerfile": dfFS}), name, nil
}

func rootOwned(_ string, s *fstypes.Stat) fsutil.MapResult {
	s.Uid, s.Gid = 0, 0
	return fsutil.MapResultKeep
}

package main

import "github.com/lightship-ci/lightship/pkg/result"

// writeResult leaves .lightship/docker-build.json for later steps (rancher-upgrade
// deploys repo@digest from it) and a Drone card when DRONE_CARD_PATH is set.
func (r *runner) writeResult() error {
	p := r.plan
	res := result.Build{Repo: p.Repo, Tags: p.Tags, Digest: r.digest, ImageID: r.imageID, Registry: p.Registry, Platforms: r.platforms}
	if !p.Push {
		res.Tags = []string{}
	}
	if err := r.env.WriteResult(res); err != nil {
		return err
	}
	return result.WriteCard(r.env.Build.CardPath, r.env.Stdout, result.Card{
		Schema: "https://drone-plugins.github.io/drone-docker/card.json",
		Data: map[string]any{
			"repo": p.Repo, "tags": res.Tags, "digest": r.digest, "image_id": r.imageID,
			"registry": p.Registry, "pushed": p.Push, "platforms": r.platforms,
		},
	})
}

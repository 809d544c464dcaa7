package main

import (
	"strings"
	"testing"
)

// Cases the old line reader got wrong; BuildKit's parser gets them right.
func TestBaseImagesAsBuildKitReadsThem(t *testing.T) {
	for _, tc := range []struct {
		name, dockerfile string
		want             []string
	}{
		{"escape directive", "# escape=`\nARG TAG=3.19\nFROM alpine:${TAG} `\n  AS base\nRUN echo `\n  hi\n", []string{"alpine:3.19"}},
		{"quoted arg with spaces", "ARG NOTE=\"two words\"\nARG IMG='busybox:1.36'\nFROM $IMG\nLABEL note=$NOTE\n", []string{"busybox:1.36"}},
		{"heredoc holding a FROM line", "FROM alpine:3\nRUN <<EOF\nFROM evil:1\necho hi\nEOF\nCOPY <<EOF /Dockerfile\nFROM other:2\nEOF\n", []string{"alpine:3"}},
		{"arg referencing arg", "ARG REG=registry.example.com\nARG BASE=${REG}/base\nFROM ${BASE}:1\n", []string{"registry.example.com/base:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := baseImages(tc.dockerfile, nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := baseImages("FROM\n", nil); err == nil {
		t.Error("FROM without an image: no error")
	}
}

package main

// Default templates, by language and use. Status colour: textcard
// <div class="highlight"> and markdown <font color="warning"> on failure.
func defaults() map[string]map[string]string {
	return map[string]map[string]string{
		"zh": {
			"title": `{{ .Repo.Slug }} #{{ .Build.Number }} {{ if success }}构建成功{{ else }}构建失败{{ end }}`,
			"textcard": `{{ with datetime .Build.Started }}<div class="gray">{{ . }}</div>{{ end }}` +
				`{{ if success }}<div class="normal">构建成功</div>{{ else }}<div class="highlight">构建失败{{ with .Build.FailedSteps }}：{{ join . "、" }}{{ end }}</div>{{ end }}` +
				`<div class="normal">分支 {{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}</div>{{ .Commit.Title }}`,
			"text": "{{ .Title }}\n" +
				"{{ with .Build.FailedSteps }}失败步骤: {{ join . \"、\" }}\n{{ end }}" +
				"分支: {{ .Commit.Branch }}  提交: {{ short .Commit.SHA }}  作者: {{ .Commit.Author }}\n" +
				"{{ .Commit.Title }}\n" +
				`{{ with .URL }}<a href="{{ . }}">查看构建</a>{{ end }}`,
			"markdown": "### {{ .Title }}\n" +
				"> 状态: {{ if success }}<font color=\"info\">构建成功</font>{{ else }}<font color=\"warning\">构建失败</font>{{ end }}\n" +
				"{{ with .Build.FailedSteps }}> 失败步骤: <font color=\"warning\">{{ join . \"、\" }}</font>\n{{ end }}" +
				"{{ with .Commit.Branch }}> 分支: {{ . }}\n{{ end }}" +
				"{{ if .Commit.SHA }}> 提交: {{ short .Commit.SHA }} {{ .Commit.Title }}\n{{ end }}" +
				"{{ with .Commit.Author.String }}> 作者: <font color=\"comment\">{{ . }}</font>\n{{ end }}\n" +
				"{{ with .URL }}[查看构建]({{ . }}){{ end }}",
			"markdown_v2": "### {{ if success }}✅{{ else }}❌{{ end }} {{ .Title }}\n" +
				"{{ with .Build.FailedSteps }}- 失败步骤: {{ join . \"、\" }}\n{{ end }}" +
				"- 分支: `{{ .Commit.Branch }}`\n" +
				"- 提交: `{{ short .Commit.SHA }}` {{ .Commit.Title }}\n" +
				"- 作者: {{ .Commit.Author }}\n\n" +
				"{{ with .URL }}[查看构建]({{ . }}){{ end }}",
			"news": "{{ if success }}构建成功{{ else }}构建失败{{ with .Build.FailedSteps }}：{{ join . \"、\" }}{{ end }}{{ end }}\n" +
				"{{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}\n{{ .Commit.Title }}",
		},
		"en": {
			"title": `{{ .Repo.Slug }} #{{ .Build.Number }} {{ if success }}succeeded{{ else }}failed{{ end }}`,
			"textcard": `{{ with datetime .Build.Started }}<div class="gray">{{ . }}</div>{{ end }}` +
				`{{ if success }}<div class="normal">Build succeeded</div>{{ else }}<div class="highlight">Build failed{{ with .Build.FailedSteps }}: {{ join . ", " }}{{ end }}</div>{{ end }}` +
				`<div class="normal">{{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}</div>{{ .Commit.Title }}`,
			"text": "{{ .Title }}\n" +
				"{{ with .Build.FailedSteps }}Failed steps: {{ join . \", \" }}\n{{ end }}" +
				"Branch: {{ .Commit.Branch }}  Commit: {{ short .Commit.SHA }}  Author: {{ .Commit.Author }}\n" +
				"{{ .Commit.Title }}\n" +
				`{{ with .URL }}<a href="{{ . }}">Open the build</a>{{ end }}`,
			"markdown": "### {{ .Title }}\n" +
				"> Status: {{ if success }}<font color=\"info\">success</font>{{ else }}<font color=\"warning\">failure</font>{{ end }}\n" +
				"{{ with .Build.FailedSteps }}> Failed steps: <font color=\"warning\">{{ join . \", \" }}</font>\n{{ end }}" +
				"{{ with .Commit.Branch }}> Branch: {{ . }}\n{{ end }}" +
				"{{ if .Commit.SHA }}> Commit: {{ short .Commit.SHA }} {{ .Commit.Title }}\n{{ end }}" +
				"{{ with .Commit.Author.String }}> Author: <font color=\"comment\">{{ . }}</font>\n{{ end }}\n" +
				"{{ with .URL }}[Open the build]({{ . }}){{ end }}",
			"markdown_v2": "### {{ if success }}✅{{ else }}❌{{ end }} {{ .Title }}\n" +
				"{{ with .Build.FailedSteps }}- Failed steps: {{ join . \", \" }}\n{{ end }}" +
				"- Branch: `{{ .Commit.Branch }}`\n" +
				"- Commit: `{{ short .Commit.SHA }}` {{ .Commit.Title }}\n" +
				"- Author: {{ .Commit.Author }}\n\n" +
				"{{ with .URL }}[Open the build]({{ . }}){{ end }}",
			"news": "{{ if success }}Build succeeded{{ else }}Build failed{{ with .Build.FailedSteps }}: {{ join . \", \" }}{{ end }}{{ end }}\n" +
				"{{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}\n{{ .Commit.Title }}",
		},
	}
}

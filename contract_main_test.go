package main

import (
	"regexp"
	"strings"
)

// treeLabels are the labels the org tree adds to informatica_org_info.
var treeLabels = regexp.MustCompile(`(, )?(dev_org|parent_org_id)="[^"]*"`)

// withoutTreeLabels returns the samples with the org tree's labels of
// informatica_org_info left out, so that a test of the usage finds an
// org's series whether or not the account's contract was read yet.
func withoutTreeLabels(s map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if strings.HasPrefix(k, "informatica_org_info{") {
			k = strings.Replace(treeLabels.ReplaceAllString(k, ""), "{, ", "{", 1)
		}
		out[k] = v
	}
	return out
}

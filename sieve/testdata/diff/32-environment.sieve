require ["environment", "variables", "fileinto"];
if environment :matches "name" "*" {
	if environment :is "location" "MS" {
		fileinto "Env.${1}";
	}
}

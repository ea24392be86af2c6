require ["body", "regex", "fileinto", "imap4flags", "foreverypart", "mime", "extracttext", "variables"];
# Words placed where only a real HTML-to-text pass treats them right:
# inside <script>, <style> and comments (dropped), entities (decoded),
# CDATA (kept), white space between tags (kept as it is).
if body :text :contains "scriptword" { addflag "script"; }
if body :text :contains "styleword" { addflag "style"; }
if body :text :contains "commentword" { addflag "comment"; }
if body :text :contains "fish & chips" { addflag "entity"; }
if body :text :contains "cdataword" { addflag "cdata"; }
if body :text :contains "click here" { addflag "collapsed"; }
if body :text :regex "CLICK[[:space:]]{4,}HERE" { addflag "kept"; }
if body :text :contains "<b>" { addflag "tags"; }
foreverypart {
	if header :mime :type "Content-Type" "text" {
		extracttext :first 60 "t";
		if string :contains "${t}" "Café" { addflag "extract-entity"; }
		if string :contains "${t}" "scriptword" { addflag "extract-script"; }
	}
}
fileinto "HTML";

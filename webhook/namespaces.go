package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	gojson "github.com/goccy/go-json"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/decco-dev/decco/space"
)

// The ClusterRoles the chart ships for the permissions the namespace guard
// checks; refusals name them so a user knows what to ask for.
const (
	// SpaceAdminRole grants verb update on spaces.decco.io: changing a
	// space's settings (bound in the space's namespace, it covers that
	// space alone).
	SpaceAdminRole = "decco-space-admin"
	// ProjectRolePrefix + project grants verb join on that one project
	// (chart value rbac.projects lists the projects to make roles for).
	ProjectRolePrefix = "decco-join-project-"
)

// mastersGroup is Kubernetes' superuser group; RBAC can't restrict it, and
// neither does decco.
const mastersGroup = "system:masters"

// Reviewer decides whether a user holds a permission in a namespace; in
// production a SubjectAccessReview against the apiserver.
type Reviewer interface {
	Allowed(ctx context.Context, user authenticationv1.UserInfo, namespace string, p space.Permission) (bool, error)
}

// SubjectAccessReviewer asks the apiserver's authorizers (RBAC, usually)
// with a SubjectAccessReview per question.
type SubjectAccessReviewer struct{ Client client.Client }

// Allowed creates a SubjectAccessReview for p in namespace, so a RoleBinding
// there grants it as well as a ClusterRoleBinding.
func (r SubjectAccessReviewer) Allowed(ctx context.Context, user authenticationv1.UserInfo, namespace string, p space.Permission) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: p.Verb, Group: space.PermissionGroup, Resource: p.Resource, Name: p.Name,
		},
	}}
	if err := r.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("asking the apiserver whether %s may use %s: %w", user.Username, p, err)
	}
	return sar.Status.Allowed, nil
}

// namespaceGuard lets a change to a namespace's space settings (its
// decco.io/ keys and Pod Security labels) through only for users allowed
// it on decco's virtual resources: space settings are the platform's, and
// a tenant with patch on its own namespace must not join another project
// or drop its own isolation.
type namespaceGuard struct {
	reviewer Reviewer
	system   string
}

func (h *namespaceGuard) Handle(ctx context.Context, req admission.Request) admission.Response {
	var obj, old metav1.PartialObjectMetadata
	if err := gojson.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the namespace: %w", err))
	}
	if len(req.OldObject.Raw) > 0 {
		if err := gojson.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the namespace's previous version: %w", err))
		}
	}
	name := req.Name
	if name == "" {
		name = obj.Name
	}
	changes := space.SettingChanges(name,
		space.Meta{Labels: old.Labels, Annotations: old.Annotations},
		space.Meta{Labels: obj.Labels, Annotations: obj.Annotations})
	if len(changes) == 0 {
		return observe(ctx, "Namespace", admission.Allowed("no space setting changed"), "Unchanged", "")
	}
	if exempt(req.UserInfo, h.system) {
		return observe(ctx, "Namespace", admission.Allowed("decco or a cluster administrator"), "Exempt", "")
	}
	if h.reviewer == nil {
		return observe(ctx, "Namespace", admission.Errored(http.StatusInternalServerError,
			fmt.Errorf("decco's namespace guard has no SubjectAccessReview client")), "", "Error")
	}
	var denied []space.SettingChange
	verdicts := map[space.Permission]bool{}
	for _, c := range changes {
		if c.DeccoOnly {
			denied = append(denied, c)
			continue
		}
		ok, asked := verdicts[c.Needs]
		if !asked {
			var err error
			if ok, err = h.reviewer.Allowed(ctx, req.UserInfo, name, c.Needs); err != nil {
				return observe(ctx, "Namespace", admission.Errored(http.StatusInternalServerError, err), "", "Error")
			}
			verdicts[c.Needs] = ok
		}
		if !ok {
			denied = append(denied, c)
		}
	}
	if len(denied) > 0 {
		resp := admission.Denied(guardRefusal(name, req.UserInfo.Username, denied))
		resp.Result.Reason = "decco.NotPermitted"
		return observe(ctx, "Namespace", resp, "", "NotPermitted")
	}
	return observe(ctx, "Namespace", admission.Allowed("permitted"), "Permitted", "")
}

// exempt: decco's own service accounts (the reconciler writes status and
// Pod Security labels) and cluster administrators are never locked out.
// The webhook configuration's match conditions spare them the call; this
// holds if they are missing.
func exempt(user authenticationv1.UserInfo, system string) bool {
	return slices.Contains(user.Groups, mastersGroup) ||
		(system != "" && strings.HasPrefix(user.Username, "system:serviceaccount:"+system+":"))
}

// guardRefusal names each refused change, the permission it needs and the
// ClusterRole that grants it.
func guardRefusal(namespace, user string, denied []space.SettingChange) string {
	parts := make([]string, 0, len(denied))
	for _, c := range denied {
		if c.DeccoOnly {
			parts = append(parts, fmt.Sprintf("%s %s is written by decco alone; leave it out of your change", keyKind(c), c.Key))
			continue
		}
		role := SpaceAdminRole
		if c.Needs.Resource == space.ResourceProjects {
			role = ProjectRolePrefix + c.Needs.Name
		}
		parts = append(parts, fmt.Sprintf(
			"user %q may not %s: space settings are the platform's, and this needs %s; a cluster administrator grants it by binding ClusterRole %s to the user (a RoleBinding in namespace %s)",
			user, c.Describe(), c.Needs, role, namespace))
	}
	return fmt.Sprintf("namespace %s: %s", namespace, strings.Join(parts, "; and "))
}

func keyKind(c space.SettingChange) string {
	if c.Label {
		return "label"
	}
	return "annotation"
}

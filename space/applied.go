package space

// AnnotationApplied is set by the reconciler on every object it writes: a
// hash of the object as decco last built it. Comparing it with a fresh
// build tells "decco wants something else now" (including a field it no
// longer sets) without a write; the apiserver's defaulting of fields decco
// leaves empty can't make it differ.
const AnnotationApplied = Prefix + "applied"

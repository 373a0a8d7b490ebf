mod assess;
mod policy;

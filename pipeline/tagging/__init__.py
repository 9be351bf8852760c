"""Tagging: what a study is about, from its title, abstract and NLM's indexing. Rules as data
(`rules`), the linear layer (`linear`), label decisions (`tagger`), and training and evaluation
against human labels (`train`, `evaluate`)."""
